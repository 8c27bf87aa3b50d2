"""`leadscore import --outcomes FILE`: a CRM's export of closed deals, in bulk.

Columns: `lead_id`, `outcome` (won, lost or open; any case), `at` (or `timestamp`: ISO
8601 or epoch seconds, a time without a zone is UTC), and `amount` (optional). A bad row
stops the import before anything is stored, naming the file, the row and the column;
outcomes of leads the service does not know are skipped with a warning, as events are."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from leadscore.engines import DuckDBEngine
from leadscore.engines.canonical import ROW
from leadscore.errors import DataError
from leadscore.service import outcomes
from leadscore.service.store.database import Database
from leadscore.timeutil import TimeError, to_epoch

TIME_COLUMNS = ("at", "timestamp")


@dataclass
class OutcomesImported:
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)


def import_outcomes(db: Database, path: Path, id_column: str = "lead_id") -> OutcomesImported:
    table = DuckDBEngine().open(path)
    columns = set(table.columns)
    name = str(path)
    for needed in (id_column, "outcome"):
        if needed not in columns:
            raise DataError(
                name, f"no column {needed!r} (columns: {', '.join(sorted(columns - {ROW}))})"
            )
    when = next((c for c in TIME_COLUMNS if c in columns), None)
    if when is None:
        raise DataError(name, "no column 'at' (or 'timestamp'): when the outcome happened")
    wanted = [ROW, id_column, "outcome", when] + (["amount"] if "amount" in columns else [])
    items: list[outcomes.OutcomeIn] = []
    for row in table.select(*wanted).order_by(ROW).to_pyarrow().to_pylist():
        items.append(_item(name, row, id_column, when))
    result = OutcomesImported()
    with db.write() as conn:
        missing = outcomes.unknown_leads(conn, [x.lead_id for x in items])
        known = [x for x in items if x.lead_id not in missing]
        result.skipped = len(items) - len(known)
        if missing:
            shown = ", ".join(sorted(missing)[:5])
            result.warnings.append(
                f"{name}: {result.skipped:,} outcome(s) of {len(missing):,} lead(s) the service "
                f"does not know were skipped ({shown}{', ...' if len(missing) > 5 else ''})"
            )
        result.accepted, dupes = outcomes.record(conn, known, time.time(), source="import")
        result.duplicates = len(dupes)
    return result


def _item(name: str, row: dict, id_column: str, when: str) -> outcomes.OutcomeIn:
    at_row = row[ROW]
    lead = row[id_column]
    if lead is None or str(lead).strip() == "":
        raise DataError(name, "empty lead id", row=at_row, column=id_column)
    kind = str(row["outcome"] or "").strip().lower()
    if kind not in outcomes.OUTCOMES:
        raise DataError(
            name, f"{row['outcome']!r}: expected won, lost or open", row=at_row, column="outcome"
        )
    try:
        at = to_epoch(row[when])
    except TimeError as exc:
        raise DataError(name, str(exc), row=at_row, column=when) from None
    amount = row.get("amount")
    if amount is not None and str(amount).strip() != "":
        try:
            amount = float(amount)
        except ValueError:
            raise DataError(
                name, f"{amount!r}: not a number", row=at_row, column="amount"
            ) from None
        if amount < 0 or amount != amount:
            raise DataError(
                name,
                f"{amount!r}: an amount is a number of at least 0",
                row=at_row,
                column="amount",
            )
    else:
        amount = None
    return outcomes.OutcomeIn(str(lead), kind, at, amount)
