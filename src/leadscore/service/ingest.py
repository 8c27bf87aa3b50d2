"""Leads and events in: validated items -> stored rows -> the touched leads rescored, in
the caller's one transaction (parse and validate everything first; nothing is stored when
an item is refused)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, case, insert, select, update

from leadscore.service import changes
from leadscore.service.changes import Recorded, Scored
from leadscore.service.errors import Invalid, Problem
from leadscore.service.online import (
    CompiledVersion,
    LeadState,
    engagement_states,
    event_row,
    load_leads,
    save_leads,
    score_leads,
)
from leadscore.service.store.database import id_chunks
from leadscore.service.store.tables import AnonymousEvent, Event, Lead, Visitor

T = TypeVar("T")


@dataclass(frozen=True)
class LeadIn:
    lead_id: str
    attributes: dict[str, Any]  # a None value clears the attribute


@dataclass(frozen=True)
class EventIn:
    lead_id: str
    event: str
    ts: float
    properties: dict[str, Any]
    event_id: str | None = None


@dataclass
class Outcome:
    """What a request did: events stored and skipped, and each touched lead's rows."""

    accepted: int = 0
    duplicates: list[str] = field(default_factory=list)
    leads: dict[str, LeadState] = field(default_factory=dict)
    recorded: dict[str, Recorded] = field(default_factory=dict)  # by model name
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> lead -> score


def upsert_leads(
    conn: Connection, versions: Sequence[CompiledVersion], leads: Sequence[LeadIn], now: float
) -> Outcome:
    """Set the attributes given (None clears one), keep the others; rescore the leads."""
    merged: dict[str, dict[str, Any]] = {}
    existing = _attributes(conn, [item.lead_id for item in leads])
    for item in leads:
        attrs = dict(merged.get(item.lead_id, existing.get(item.lead_id, {})) or {})
        for key, value in item.attributes.items():
            if value is None:
                attrs.pop(key, None)
            else:
                attrs[key] = value
        merged[item.lead_id] = attrs
    new = [
        {"lead_id": k, "attributes": v, "created_at": now, "updated_at": now, "revision": 1}
        for k, v in merged.items()
        if k not in existing
    ]
    old = [{"lid": k, "attrs": v, "now": now} for k, v in merged.items() if k in existing]
    if new:
        conn.execute(insert(Lead), new)
    if old:
        conn.execute(
            update(Lead)
            .where(Lead.lead_id == bindparam("lid"))
            .values(
                attributes=bindparam("attrs"),
                updated_at=bindparam("now"),
                revision=Lead.revision + 1,
            ),
            old,
        )
    return rescore(conn, versions, list(merged), {"kind": "attributes"}, now)


def ingest_events(
    conn: Connection,
    versions: Sequence[CompiledVersion],
    events: Sequence[EventIn],
    now: float,
    *,
    create_unknown_leads: bool,
) -> Outcome:
    """Store the events not stored before (by event_id) and rescore their leads (whose
    rows the rescoring locks first, then updates once: latest event, revision, state)."""
    ids = [e.event_id or uuid.uuid4().hex for e in events]
    known = known_leads(conn, [e.lead_id for e in events])
    missing = [i for i, e in enumerate(events) if e.lead_id not in known]
    if missing and not create_unknown_leads:
        raise Invalid(
            f"{len(missing)} event(s) for leads that do not exist; send the leads first "
            "(POST /api/v1/leads), or set LEADSCORE_CREATE_UNKNOWN_LEADS=true",
            [Problem(i, "lead_id", f"no lead {events[i].lead_id!r}") for i in missing],
        )
    if missing:
        fresh = list(dict.fromkeys(events[i].lead_id for i in missing))
        conn.execute(
            insert(Lead),
            [
                {
                    "lead_id": k,
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                    "revision": 0,
                }
                for k in fresh
            ],
        )
    fresh_events, duplicates = _new_events(conn, events, ids)
    rows, causes, fresh = [], {}, {}
    for event_id, e in fresh_events:
        rows.append(_event_row(event_id, e, now) | {"lead_id": e.lead_id})
        causes[e.lead_id] = {"kind": "event", "event_id": event_id}
        fresh.setdefault(e.lead_id, []).append(event_row(event_id, e.event, e.ts, e.properties))
    if rows:
        conn.execute(insert(Event), rows)
    outcome = rescore(conn, versions, list(fresh), causes, now, fresh)
    outcome.accepted = len(rows)
    outcome.duplicates = duplicates
    return outcome


def _new_events(
    conn: Connection, events: Sequence[T], ids: Sequence[str]
) -> tuple[list[tuple[str, T]], list[str]]:
    """The events whose id is stored nowhere yet nor earlier in the request, with their
    ids; and the ids of the others (duplicates, in the request's order)."""
    stored = existing_event_ids(conn, ids)
    seen: set[str] = set()
    fresh, duplicates = [], []
    for e, event_id in zip(events, ids, strict=True):
        if event_id in stored or event_id in seen:
            duplicates.append(event_id)
        else:
            seen.add(event_id)
            fresh.append((event_id, e))
    return fresh, duplicates


def _event_row(event_id: str, e: EventIn, now: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event": e.event,
        "ts": e.ts,
        "properties": e.properties,
        "received_at": now,
    }


def _touch(conn: Connection, last: dict[str, float], now: float) -> None:
    """The leads' latest event time and revision, after new events."""
    conn.execute(
        update(Lead)
        .where(Lead.lead_id == bindparam("lid"))
        .values(
            last_event_at=case(
                (Lead.last_event_at.is_(None), bindparam("ts")),
                (Lead.last_event_at < bindparam("ts"), bindparam("ts")),
                else_=Lead.last_event_at,
            ),
            updated_at=bindparam("now"),
            revision=Lead.revision + 1,
        ),
        [{"lid": k, "ts": v, "now": now} for k, v in last.items()],
    )


def rescore(
    conn: Connection,
    versions: Sequence[CompiledVersion],
    lead_ids: Sequence[str],
    cause: dict[str, Any] | dict[str, dict[str, Any]],
    now: float,
    fresh: dict[str, list[dict[str, Any]]] | None = None,
) -> Outcome:
    """Score the leads as of now under every active version and record the changes.

    `cause` is one cause for all, or a cause per lead id; `fresh`: the events that this
    transaction stored, by lead (online.event_row), which the leads' engagement states
    take in."""
    states = load_leads(conn, lead_ids, now, fresh, lock=True)
    out = Outcome(leads=states)
    ordered = [states[k] for k in dict.fromkeys(lead_ids) if k in states]
    per_lead = "kind" not in cause
    causes = [cause[s.lead_id] if per_lead else cause for s in ordered]  # type: ignore[index]
    engaged = engagement_states(conn, versions, states, now, fresh)
    for v in versions:
        scores = score_leads(v, ordered, engaged[v.name], now)
        scored = [
            Scored(s.lead_id, sc, v.account_of(s.attributes))
            for s, sc in zip(ordered, scores, strict=True)
        ]
        out.recorded[v.name] = changes.record(conn, v.name, v.version, scored, causes, now)
        out.scores[v.name] = {s.lead_id: sc for s, sc in zip(ordered, scores, strict=True)}
    save_leads(conn, states, engaged, now)
    return out


# Built once: building a statement with 500 ids costs more than running it.
_STORED_IDS = [
    select(table.event_id).where(table.event_id.in_(bindparam("ids", expanding=True)))
    for table in (Event, AnonymousEvent)
]
_KNOWN = select(Lead.lead_id).where(Lead.lead_id.in_(bindparam("ids", expanding=True)))


def existing_event_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """The ids already stored, as a lead's event or a visitor's."""
    found: set[str] = set()
    for part in id_chunks(ids):
        for query in _STORED_IDS:
            found.update(conn.execute(query, {"ids": part}).scalars())
    return found


def known_leads(conn: Connection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in id_chunks(ids):
        found.update(conn.execute(_KNOWN, {"ids": part}).scalars())
    return found


def _attributes(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in id_chunks(ids):
        for lead_id, attrs in conn.execute(
            select(Lead.lead_id, Lead.attributes).where(Lead.lead_id.in_(part))
        ):
            out[lead_id] = attrs or {}
    return out


# -- visitors known by an anonymous id (Segment) ----------------------------------------


def lead_of_visitor(conn: Connection, anonymous_ids: Sequence[str]) -> dict[str, str]:
    """The lead each anonymous id was joined to, for those joined."""
    out: dict[str, str] = {}
    for part in id_chunks(anonymous_ids):
        query = select(Visitor.anonymous_id, Visitor.lead_id).where(Visitor.anonymous_id.in_(part))
        out.update((r[0], r[1]) for r in conn.execute(query))
    return out


def keep_anonymous(
    conn: Connection, events: Sequence[tuple[str, EventIn]], now: float
) -> list[str]:
    """Store a visitor's events under its anonymous id; the duplicates' ids are returned."""
    ids = [e.event_id or uuid.uuid4().hex for _, e in events]
    fresh_events, duplicates = _new_events(conn, events, ids)
    rows = [
        _event_row(event_id, e, now) | {"anonymous_id": anon}
        for event_id, (anon, e) in fresh_events
    ]
    if rows:
        conn.execute(insert(AnonymousEvent), rows)
    return duplicates


def join_visitor(conn: Connection, anonymous_id: str, lead_id: str, now: float) -> None:
    """An identify with both ids: the visitor's events become the lead's (the lead exists)."""
    if conn.execute(select(Visitor.lead_id).where(Visitor.anonymous_id == anonymous_id)).first():
        return
    conn.execute(insert(Visitor).values(anonymous_id=anonymous_id, lead_id=lead_id, joined_at=now))
    rows = conn.execute(
        select(AnonymousEvent.__table__).where(AnonymousEvent.anonymous_id == anonymous_id)
    ).all()
    if not rows:
        return
    conn.execute(
        insert(Event),
        [
            {
                "event_id": r.event_id,
                "lead_id": lead_id,
                "event": r.event,
                "ts": r.ts,
                "properties": r.properties,
                "received_at": r.received_at,
            }
            for r in rows
        ],
    )
    conn.execute(
        AnonymousEvent.__table__.delete().where(AnonymousEvent.anonymous_id == anonymous_id)
    )
    _touch(conn, {lead_id: max(r.ts for r in rows)}, now)
    # Events older than the lead's engagement state joined its history: rebuilt when
    # the lead is rescored.
    conn.execute(update(Lead).where(Lead.lead_id == lead_id).values(engagement=None))
