"""Input checks: leads and events read against a model, made canonical.

Used by scoring, learning and review alike (the one home of `prepare` and
`check_ids`), so that none of them imports another to check its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa

from leadscore import timeutil
from leadscore.compile.dialects import dialect_for
from leadscore.engines.base import IbisEngine
from leadscore.engines.canonical import (
    EVENT_REQUIRED,
    canonical_events,
    canonical_leads,
    first_bad_timestamp,
    first_duplicate_id,
    first_missing_id,
)
from leadscore.errors import DataError, column_list, given, no_column, shown
from leadscore.model.schema import ScoringModel
from leadscore.plan import ScoringPlan, build_plan

# An input as the data-level APIs take it: a file, or a table already in memory.
Source = Path | pa.Table


def open_source(engine: IbisEngine, source: Source) -> ir.Table:
    """A raw input table (with its row numbers) from a file or an in-memory table."""
    if isinstance(source, pa.Table):
        return engine.from_arrow(source)
    return engine.open(source)


def source_name(source: Source | None, field: str) -> str | None:
    """How messages name an input: its path, or the field it was given as."""
    if source is None:
        return None
    return field if isinstance(source, pa.Table) else str(source)


@dataclass(frozen=True)
class Inputs:
    leads: ir.Table
    events: ir.Table | None
    id_column: str
    plan: ScoringPlan  # the model's, for this id column: built once, read by every step


def check_ids(engine: IbisEngine, raw: ir.Table, name: str, id_column: str) -> None:
    """Every row has an id, and no id is there twice (the error names both rows)."""
    for row in engine.fetch(first_missing_id(raw, id_column)):
        raise DataError(
            name, "the lead id is empty", row=engine.row_number(raw, row["row"]), column=id_column
        )
    dupes = engine.fetch(first_duplicate_id(raw, id_column))
    if dupes:
        raise DataError(
            name,
            f"duplicate lead id {shown(dupes[0]['key'])} "
            f"(also in row {engine.row_number(raw, dupes[0]['row'])})",
            row=engine.row_number(raw, dupes[-1]["row"]),
            column=id_column,
        )


def prepare(
    engine: IbisEngine,
    model: ScoringModel,
    leads_raw: ir.Table,
    events_raw: ir.Table | None,
    *,
    leads_name: str,
    events_name: str | None,
    id_column: str | None = None,
) -> Inputs:
    """Check raw inputs against the model and make them canonical."""
    id_given = id_column is not None
    id_column = id_column or model.id
    needs = build_plan(model, id_column)
    columns = engine.columns(leads_raw)
    if id_column not in columns:
        raise no_column(
            leads_name,
            "id column",
            id_column,
            columns,
            "" if id_given else f"; name it with {given('id_column')} or the model's id field",
        )
    for column, user in needs.lead_columns.items():
        if column not in columns:
            raise DataError(
                leads_name,
                f"{user} reads column {column!r}, which the file lacks "
                f"(columns: {column_list(columns)})",
                column=column,
            )
    check_ids(engine, leads_raw, leads_name, id_column)

    events = None
    if events_raw is not None:
        assert events_name is not None
        ev_columns = engine.columns(events_raw)
        for column in EVENT_REQUIRED:
            if column not in ev_columns:
                raise DataError(
                    events_name,
                    f"no {column!r} column; events need lead_id, event and timestamp "
                    f"(columns: {column_list(ev_columns)})",
                    column=column,
                )
        for column, user in needs.event_columns.items():
            if column not in ev_columns:
                raise DataError(
                    events_name,
                    f"{user} reads property {column!r}, which the file lacks "
                    f"(columns: {column_list(ev_columns)})",
                    column=column,
                )
        regex = dialect_for(engine.dialect).regex
        for row in engine.fetch(first_bad_timestamp(events_raw, engine.epoch_us, regex)):
            raise DataError(
                events_name,
                _time_problem(row["value"]),
                row=engine.row_number(events_raw, row["row"]),
                column="timestamp",
            )
        events = engine.view(
            canonical_events(
                events_raw,
                list(needs.event_columns),
                leads_raw[id_column],
                engine.epoch_us,
                regex,
            )
        )
    event_ids = events_raw.lead_id if events_raw is not None else None
    leads = engine.view(canonical_leads(leads_raw, id_column, list(needs.lead_columns), event_ids))
    return Inputs(leads, events, id_column, needs)


def _time_problem(value: str | None) -> str:
    """Why an event time was refused, in the words of the one time parser."""
    if value is None or not value.strip():
        return f"is empty; expected {timeutil.FORMS}"
    try:
        timeutil.parse_text(value)
    except timeutil.TimeError as exc:
        return str(exc)
    return f"{shown(value)} is not a time; expected {timeutil.FORMS}"


__all__ = ["Inputs", "check_ids", "prepare"]
