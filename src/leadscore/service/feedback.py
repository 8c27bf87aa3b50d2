"""Sales feedback: a rep accepts a lead or rejects it with a reason from the team's list.

Every verdict is kept with its author (the key's name), its time, and the score, grade
and stage the lead had under the model when the rep judged it; the lead's history (the
ledger) shows it, as a `feedback` cause."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from leadscore.service import changes
from leadscore.service.errors import Invalid, NotFound, Problem
from leadscore.service.online import CompiledVersion
from leadscore.service.store.tables import Feedback, FeedbackReason, Lead

VERDICTS = ("accepted", "rejected")


@dataclass(frozen=True)
class Reason:
    name: str
    needs_note: bool


def reasons(conn: Connection) -> list[Reason]:
    query = select(FeedbackReason.name, FeedbackReason.needs_note)
    return [
        Reason(r.name, bool(r.needs_note))
        for r in conn.execute(query.order_by(FeedbackReason.position))
    ]


def set_reasons(conn: Connection, given: Sequence[Reason]) -> list[Reason]:
    """The team's list, replaced (verdicts given before keep the reason they named)."""
    names = [r.name.strip() for r in given]
    problems = [Problem(i, "name", "empty") for i, n in enumerate(names) if not n]
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n.lower() in seen:
            problems.append(Problem(i, "name", f"{n!r} twice"))
        seen.add(n.lower())
    if not given:
        problems.append(Problem(None, "reasons", "the list may not be empty"))
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in the list of reasons", problems)
    conn.execute(delete(FeedbackReason))
    conn.execute(
        insert(FeedbackReason),
        [
            {"name": n, "position": i, "needs_note": r.needs_note}
            for i, (n, r) in enumerate(zip(names, given, strict=True))
        ],
    )
    return reasons(conn)


def give(
    conn: Connection,
    versions: Sequence[CompiledVersion],
    lead_id: str,
    *,
    verdict: str,
    reason: str | None,
    note: str | None,
    model: str | None,
    author: str,
    now: float,
) -> dict[str, Any]:
    """Store a verdict; the stored row. Rejections need a reason of the list (and a note
    when the reason asks for one)."""
    if conn.execute(select(Lead.lead_id).where(Lead.lead_id == lead_id)).first() is None:
        raise NotFound(f"no lead {lead_id!r}")
    from leadscore.service.leads import one_model

    version = one_model(versions, model)
    note = (note or "").strip() or None
    problems = []
    known = {r.name: r for r in reasons(conn)}
    if verdict == "rejected":
        if not reason:
            problems.append(
                Problem(None, "reason", f"required to reject: one of {', '.join(known)}")
            )
        elif reason not in known:
            problems.append(
                Problem(None, "reason", f"{reason!r} is not in the list: {', '.join(known)}")
            )
        elif known[reason].needs_note and not note:
            problems.append(Problem(None, "note", f"reason {reason!r} needs a note saying what"))
    elif reason is not None and reason not in known:
        problems.append(
            Problem(None, "reason", f"{reason!r} is not in the list: {', '.join(known)}")
        )
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in the feedback", problems)
    stored = changes.stored_rows(conn, version.name, [lead_id]).get(lead_id) or {}
    row = {
        "lead_id": lead_id,
        "model": version.name,
        "version": stored.get("version", version.version),
        "verdict": verdict,
        "reason": reason,
        "note": note,
        "author": author,
        "at": now,
        "score": stored.get("score"),
        "grade": stored.get("grade"),
        "stage": stored.get("stage"),
    }
    new_id = conn.execute(insert(Feedback).values(**row).returning(Feedback.id)).scalar_one()
    cause = {"kind": "feedback", "verdict": verdict, "reason": reason, "by": author}
    changes.note(conn, [(lead_id, cause)], now)
    return {"id": new_id, **row}


def of_lead(conn: Connection, lead_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(Feedback.__table__).where(Feedback.lead_id == lead_id).order_by(Feedback.id)
    ).mappings()
    return [dict(r) for r in rows]
