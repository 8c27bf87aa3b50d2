"""Outcomes, as a CRM sends them when a deal closes: won, lost, or open again.

An outcome sent twice (same lead, outcome and time) is stored once. Each new one keeps
the lead's stored scores as they were at that moment (a snapshot per model) and shows
in its history (an `outcome` cause)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, tuple_

from leadscore.service import changes
from leadscore.service.store.database import id_chunks
from leadscore.service.store.tables import Lead, Outcome

OUTCOMES = ("won", "lost", "open")


@dataclass(frozen=True)
class OutcomeIn:
    lead_id: str
    outcome: str
    at: float
    amount: float | None = None


def unknown_leads(conn: Connection, ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    query = select(Lead.lead_id).where(Lead.lead_id.in_(bindparam("ids", expanding=True)))
    for part in id_chunks(ids):
        known.update(conn.execute(query, {"ids": part}).scalars())
    return set(ids) - known


def record(
    conn: Connection, items: Sequence[OutcomeIn], now: float, source: str = "api"
) -> tuple[int, list[int]]:
    """Store the outcomes not stored before; (how many were new, the indexes of the
    duplicates). The caller has checked that the leads exist."""
    keys = [(x.lead_id, x.outcome, x.at) for x in items]
    stored: set[tuple] = set()
    t = Outcome.__table__.c
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        stored.update(
            tuple(r)
            for r in conn.execute(
                select(t.lead_id, t.outcome, t.at).where(
                    tuple_(t.lead_id, t.outcome, t.at).in_(part)
                )
            )
        )
    new, duplicates, seen = [], [], set(stored)
    for i, (x, key) in enumerate(zip(items, keys, strict=True)):
        if key in seen:
            duplicates.append(i)
            continue
        seen.add(key)
        new.append(x)
    if new:
        conn.execute(
            Outcome.__table__.insert(),
            [
                {
                    "lead_id": x.lead_id,
                    "outcome": x.outcome,
                    "at": x.at,
                    "amount": x.amount,
                    "received_at": now,
                    "source": source,
                }
                for x in new
            ],
        )
    causes = [
        (x.lead_id, {"kind": "outcome", "outcome": x.outcome, "amount": x.amount}) for x in new
    ]
    changes.snapshot(conn, changes.note(conn, causes, now), "outcome", now)
    return len(new), duplicates


def of_lead(conn: Connection, lead_id: str) -> list[dict]:
    rows = conn.execute(
        select(Outcome.__table__).where(Outcome.lead_id == lead_id).order_by(Outcome.at, Outcome.id)
    ).mappings()
    return [dict(r) for r in rows]
