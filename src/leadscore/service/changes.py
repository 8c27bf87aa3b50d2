"""The one place where a lead's stored score changes.

Every change (an event, new attributes, the sweep, an activation, a recycle) goes through
`record`: it reads the stored rows, moves the lifecycle, writes the score rows and a
ledger entry for each change that shows, in the caller's transaction, and returns the
changes; the webhooks' messages that they cause go to the outbox in the same
transaction (`outbox.write`).

Lifecycle: the stage becomes `mql` the first time a lead qualifies and stays so until it
is recycled. A recycled lead qualifies again on new activity (an event, new attributes)
or a new model version; the sweep never re-qualifies it: time passing is not interest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from leadscore.one_lead import LeadScore
from leadscore.service import outbox
from leadscore.service.store.database import id_chunks
from leadscore.service.store.tables import LedgerEntry, Score, ScoreSnapshot

# The ledger keeps a change of score when it shows at two decimals: decay moves scores a
# little at every sweep, and a row per sweep per lead would say nothing more.
LEDGER_DIGITS = 2


@dataclass(frozen=True)
class Scored:
    """A new score for a lead under a model version. `reasons`: the reasons as JSON text
    (`reasons_text`) when the caller has them so (the batch engine), else made here."""

    lead_id: str
    score: LeadScore
    account: str | None
    reasons: str | None = None


def reasons_text(reasons: Sequence[dict[str, Any]]) -> str:
    """The one text form of a list of reasons, whichever scorer made it: rows compare as
    text, and `json.dumps` writes each float as its shortest round trip."""
    return json.dumps(reasons, ensure_ascii=False)


@dataclass(frozen=True)
class Recorded:
    """The stored row of every lead given, after the change, and what changed."""

    rows: dict[str, dict[str, Any]]
    changes: list[Change]


@dataclass(frozen=True)
class Change:
    """What one lead's row was and became (previous None: its first score)."""

    lead_id: str
    model: str
    version: str
    previous: dict[str, Any] | None
    current: dict[str, Any]
    cause: dict[str, Any]


def record(
    conn: Connection,
    model: str,
    version: str,
    scored: Sequence[Scored],
    cause: dict[str, Any] | Sequence[dict[str, Any]],
    at: float,
) -> Recorded:
    """Store new scores (one cause for all, or one per lead) and return what changed."""
    causes = [cause] * len(scored) if isinstance(cause, dict) else list(cause)
    stored = stored_rows(conn, model, [s.lead_id for s in scored])
    rows, changes, current = [], [], {}
    for item, why in zip(scored, causes, strict=True):
        before = stored.get(item.lead_id)
        row = _row(item, model, version, before, why, at)
        if before is not None and not _differs(before, row):
            current[item.lead_id] = before
            continue
        current[item.lead_id] = stored[item.lead_id] = row
        rows.append(row)
        if before is None or _shows(before, row):
            changes.append(Change(item.lead_id, model, version, before, row, why))
    _upsert(conn, rows)
    _ledger(conn, changes, at)
    became = [
        c.current
        for c in changes
        if c.current["stage"] == "mql" and (c.previous or {}).get("stage") != "mql"
    ]
    snapshot(conn, became, "mql", at)
    outbox.write(conn, model, changes, at)
    return Recorded(current, changes)


_SNAPSHOT = (
    "lead_id", "model", "version", "score", "fit_score", "engagement_score", "grade", "label",
    "probability", "stage", "reasons",
)  # fmt: skip


def snapshot(conn: Connection, rows: Sequence[dict[str, Any]], kind: str, at: float) -> None:
    """Keep stored score rows as they are now (`mql`: the moment a lead became MQL;
    `outcome`: the moment its outcome arrived), for reviews of the model as reps saw it."""
    if rows:
        conn.execute(
            insert(ScoreSnapshot),
            [{**{k: r[k] for k in _SNAPSHOT}, "kind": kind, "at": at} for r in rows],
        )


def note(conn: Connection, entries: Sequence[tuple[str, dict[str, Any]]], at: float) -> list[dict]:
    """A ledger entry under each model that scores the lead, for each (lead, cause): what
    happened to it without changing its score (a rep's verdict, an outcome). Returns the
    stored rows, one per entry and model, read in chunks, written in one statement."""
    by_lead: dict[str, list[dict]] = {}
    for part in id_chunks(lead for lead, _ in entries):
        for r in conn.execute(_OF_LEADS, {"ids": part}).mappings():
            by_lead.setdefault(r["lead_id"], []).append(dict(r))
    rows, noted = [], []
    for lead, cause in entries:
        for r in by_lead.get(lead, []):
            rows.append(r)
            noted.append(Change(lead, r["model"], r["version"], r, r, cause))
    _ledger(conn, noted, at)
    return rows


_OF_LEADS = select(Score.__table__).where(Score.lead_id.in_(bindparam("ids", expanding=True)))


def recycle(conn: Connection, model: str, lead_id: str, at: float) -> Change | None:
    """Stage back to `recycled` (None: the lead has no score under the model)."""
    before = stored_rows(conn, model, [lead_id]).get(lead_id)
    if before is None:
        return None
    row = {**before, "stage": "recycled", "mql_since": None, "scored_at": at}
    _upsert(conn, [row])
    change = Change(lead_id, model, row["version"], before, row, {"kind": "recycle"})
    _ledger(conn, [change], at)
    outbox.write(conn, model, [change], at)
    return change


def forget(conn: Connection, lead_id: str) -> None:
    """Erasure: the lead's scores, ledger and snapshots (the caller deletes the rest)."""
    conn.execute(delete(Score).where(Score.lead_id == lead_id))
    conn.execute(delete(LedgerEntry).where(LedgerEntry.lead_id == lead_id))
    conn.execute(delete(ScoreSnapshot).where(ScoreSnapshot.lead_id == lead_id))


_STORED = select(Score.__table__).where(
    Score.model == bindparam("model"), Score.lead_id.in_(bindparam("ids", expanding=True))
)


def stored_rows(conn: Connection, model: str, lead_ids: Sequence[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for part in id_chunks(lead_ids):
        for r in conn.execute(_STORED, {"model": model, "ids": part}).mappings():
            out[r["lead_id"]] = dict(r)
    return out


def _row(
    item: Scored, model: str, version: str, before: dict | None, cause: dict, at: float
) -> dict[str, Any]:
    s = item.score
    stage = before["stage"] if before else "open"
    since = before["mql_since"] if before else None
    if s.mql and (stage == "open" or (stage == "recycled" and cause["kind"] != "sweep")):
        stage, since = "mql", at
    return {
        "lead_id": item.lead_id,
        "model": model,
        "version": version,
        "score": s.score,
        "fit_score": s.fit_score,
        "engagement_score": s.engagement_score,
        "grade": s.grade,
        "label": s.label,
        "mql": s.mql,
        "probability": s.probability,
        "reasons": item.reasons
        if item.reasons is not None
        else reasons_text([{"rule": r.rule, "points": r.points} for r in s.reasons]),
        "factors": None if s.factors is None else json.dumps([dict(f) for f in s.factors]),
        "account": item.account,
        "stage": stage,
        "mql_since": since,
        "scored_at": at,
    }


_VALUES = (
    "version",
    "score",
    "fit_score",
    "engagement_score",
    "grade",
    "label",
    "mql",
    "probability",
    "reasons",
    "factors",
    "account",
    "stage",
    "mql_since",
)


def _differs(before: dict, row: dict) -> bool:
    return any(before[k] != row[k] for k in _VALUES)


def _shows(before: dict, row: dict) -> bool:
    """A change worth a ledger entry: score at two decimals, grade, label, stage, version."""
    if round(before["score"], LEDGER_DIGITS) != round(row["score"], LEDGER_DIGITS):
        return True
    return any(before[k] != row[k] for k in ("grade", "label", "stage", "version", "mql"))


_COLUMNS = ("lead_id", "model", *_VALUES, "scored_at")
_LEDGER = ("lead_id", "model", "version", "at", "score", "grade", "label", "mql", "stage", "cause")


def _placeholders(conn: Connection, n: int) -> str:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * n)


def _upsert(conn: Connection, rows: list[dict]) -> None:
    """The rows written through the driver's executemany: at a million rows, SQLAlchemy's
    per-row parameter processing would cost more than the database does."""
    if not rows:
        return
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
    sql = (
        f"INSERT INTO scores ({', '.join(_COLUMNS)}) VALUES "
        f"({_placeholders(conn, len(_COLUMNS))}) "
        f"ON CONFLICT (lead_id, model) DO UPDATE SET {updates}"
    )
    values = [tuple(r[c] for c in _COLUMNS) for r in rows]
    for start in range(0, len(values), 5000):
        conn.exec_driver_sql(sql, values[start : start + 5000])


def _ledger(conn: Connection, changes: list[Change], at: float) -> None:
    if not changes:
        return
    sql = f"INSERT INTO ledger ({', '.join(_LEDGER)}) VALUES ({_placeholders(conn, len(_LEDGER))})"
    values = [
        (
            c.lead_id,
            c.model,
            c.version,
            at,
            c.current["score"],
            c.current["grade"],
            c.current["label"],
            c.current["mql"],
            c.current["stage"],
            json.dumps(c.cause, ensure_ascii=False),
        )
        for c in changes
    ]
    for start in range(0, len(values), 5000):
        conn.exec_driver_sql(sql, values[start : start + 5000])
