"""Scoring leads one at a time in the service: the one-lead scorer of each active model
version (compiled once per process), fed with each lead's engagement state
(leadscore.service.engagement), built from the stored events only where none is usable."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from leadscore.model.load import parse_model
from leadscore.model.schema import ScoringModel
from leadscore.one_lead import LeadScore, LeadScorer
from leadscore.plan import ScoringPlan, build_plan
from leadscore.service import engagement
from leadscore.service.engagement import EngagementState
from leadscore.service.store.database import id_chunks
from leadscore.service.store.tables import ActiveModel, Event, Lead, ModelVersion
from leadscore.timeutil import SECONDS_PER_DAY
from leadscore.values import is_missing, normalize_text, text_form

ID_COLUMN = "lead_id"  # the service's leads are keyed by lead_id, whatever a model's `id`


@dataclass(frozen=True)
class CompiledVersion:
    name: str
    version: str
    model: ScoringModel
    plan: ScoringPlan
    scorer: LeadScorer
    predictive_file: Path | None

    def account_of(self, lead: dict[str, Any]) -> str | None:
        """The lead's normalized account key under this model (None: no account)."""
        accounts = self.model.accounts
        if accounts is None:
            return None
        text = text_form(lead.get(accounts.key))
        if text is None or is_missing(text, self.plan.missing):
            return None
        key = normalize_text(text)
        return None if key in set(accounts.excluded) else key


class VersionCache:
    """Model versions compiled once per process: rows never change once stored."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str], CompiledVersion] = {}
        self._lock = threading.Lock()
        self._files = Path(tempfile.mkdtemp(prefix="leadscore-models-"))

    def get(self, conn: Connection, name: str, version: str) -> CompiledVersion:
        key = (name, version)
        found = self._compiled.get(key)
        if found is not None:
            return found
        row = conn.execute(
            select(ModelVersion.yaml, ModelVersion.predictive).where(
                ModelVersion.name == name, ModelVersion.version == version
            )
        ).one()
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = self._compile(name, version, row.yaml, row.predictive)
            return self._compiled[key]

    def _compile(
        self, name: str, version: str, yaml: str, predictive: bytes | None
    ) -> CompiledVersion:
        model = parse_model(yaml, f"{name} version {version}")
        file = None
        if model.predictive is not None and predictive is not None:
            file = self._files / f"{len(self._compiled)}-{Path(model.predictive.file).name}"
            file.write_bytes(predictive)
        plan = build_plan(model, ID_COLUMN)
        return CompiledVersion(
            name, version, model, plan, LeadScorer(plan, predictive_file=file), file
        )

    def active(self, conn: Connection) -> list[CompiledVersion]:
        """The active version of every model, by name."""
        rows = conn.execute(
            select(ActiveModel.name, ActiveModel.version).order_by(ActiveModel.name)
        ).all()
        return [self.get(conn, r.name, r.version) for r in rows]


def lead_row(lead_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {**attributes, ID_COLUMN: lead_id}


def event_row(event_id: str, event: str, ts: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {**properties, "event": event, "timestamp": ts, "event_id": event_id}


def needs_of(versions: Iterable[CompiledVersion]) -> dict[str, float | None]:
    """The union of what the versions read, per event type (None: all history)."""
    out: dict[str, float | None] = {}
    for v in versions:
        for event, days in v.plan.event_needs.items():
            if event in out and (out[event] is None or days is None):
                out[event] = None
            else:
                out[event] = max(out.get(event) or 0.0, days) if days is not None else None
    return out


@dataclass
class LeadState:
    """A lead as the scorer reads it: attributes, the time of its latest event up to now
    (`latest`) and of all (`last_event_at`, events dated later included), and its
    models' engagement states as stored (leadscore.service.engagement)."""

    lead_id: str
    attributes: dict[str, Any]
    latest: float | None
    last_event_at: float | None
    engagement: dict[str, Any] | None
    touched: bool = False  # events came in this transaction


_LEADS = select(Lead.lead_id, Lead.attributes, Lead.last_event_at, Lead.engagement).where(
    Lead.lead_id.in_(bindparam("ids", expanding=True))
)
# In one order, so that two requests that lock some of the same leads never deadlock.
_LOCK_LEADS = _LEADS.order_by(Lead.lead_id).with_for_update()


def load_leads(
    conn: Connection,
    lead_ids: Sequence[str],
    now: float,
    fresh: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    lock: bool = False,
) -> dict[str, LeadState]:
    """The leads that exist among `lead_ids`, with the `fresh` events (stored in this
    transaction) in their latest times. `lock`: their rows locked for this transaction
    (PostgreSQL; SQLite's writer holds the database), so that two requests for a lead
    take turns and each reads the state the other wrote."""
    fresh = fresh or {}
    states: dict[str, LeadState] = {}
    for part in id_chunks(lead_ids):
        future = []
        query = _LOCK_LEADS if lock else _LEADS
        for r in conn.execute(query, {"ids": part}):
            new = fresh.get(r.lead_id, ())
            times = [e["timestamp"] for e in new]
            if r.last_event_at is not None:
                times.append(r.last_event_at)
            last = max(times) if times else None
            if last is not None and last > now:
                future.append(r.lead_id)
            engaged = json.loads(r.engagement) if r.engagement else None
            states[r.lead_id] = LeadState(
                r.lead_id, r.attributes or {}, last, last, engaged, bool(new)
            )
        if future:  # an event dated after now: inactivity reads the latest one before it
            for lead_id in future:
                states[lead_id].latest = None
            for lead_id, latest in conn.execute(
                select(Event.lead_id, func.max(Event.ts))
                .where(Event.lead_id.in_(future), Event.ts <= now)
                .group_by(Event.lead_id)
            ):
                states[lead_id].latest = latest
    return states


Engaged = dict[str, dict[str, EngagementState]]  # model -> lead id -> state


def engagement_states(
    conn: Connection,
    versions: Sequence[CompiledVersion],
    leads: Mapping[str, LeadState],
    now: float,
    fresh: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Engaged:
    """Each lead's engagement state under each version as of now: the stored one with
    the `fresh` events (stored in this transaction) added, or, where none is usable,
    one built from the stored events."""
    out: Engaged = {v.name: {} for v in versions}
    cold: dict[str, list[CompiledVersion]] = {}
    for v in versions:
        for lead_id, lead in leads.items():
            state = engagement.from_column(lead.engagement, v.name)
            if engagement.usable(state, v.version, now):
                assert state is not None
                new = fresh.get(lead_id, ()) if fresh else ()
                out[v.name][lead_id] = engagement.add(state, v.scorer, new, now)
            else:
                cold.setdefault(lead_id, []).append(v)
    if cold:
        wanted = {v.name: v for vs in cold.values() for v in vs}
        events = _stored_events(conn, list(cold), needs_of(wanted.values()), now)
        for lead_id, vs in cold.items():
            for v in vs:
                out[v.name][lead_id] = engagement.build(
                    v.scorer, v.version, events.get(lead_id, ()), now
                )
    return out


def _stored_events(
    conn: Connection, lead_ids: list[str], needs: dict[str, float | None], now: float
) -> dict[str, list[dict[str, Any]]]:
    """The leads' events that a window as of now or later can count, by lead."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not needs:
        return out
    whole = [e for e, days in needs.items() if days is None]
    windows = [(e, days) for e, days in needs.items() if days is not None]
    kinds = []
    if whole:
        kinds.append(Event.event.in_(whole))
    kinds += [
        and_(Event.event == e, Event.ts > now - days * SECONDS_PER_DAY) for e, days in windows
    ]
    for part in id_chunks(lead_ids):
        query = select(
            Event.lead_id, Event.event_id, Event.event, Event.ts, Event.properties
        ).where(Event.lead_id.in_(part), or_(*kinds))
        for lead_id, event_id, event, ts, props in conn.execute(query):
            out.setdefault(lead_id, []).append(event_row(event_id, event, ts, props or {}))
    return out


def save_leads(
    conn: Connection, leads: Mapping[str, LeadState], engaged: Engaged, now: float
) -> None:
    """The leads' engagement states written back, and for those that got events their
    latest event time and revision, in one statement per kind, in the caller's
    transaction."""
    touched, others = [], []
    for lead_id, lead in leads.items():
        column = dict(lead.engagement or {})
        for model, by_lead in engaged.items():
            if lead_id in by_lead:
                column[model] = by_lead[lead_id].as_column()
        text = json.dumps(column, separators=(",", ":"))
        if lead.touched:
            touched.append({"lid": lead_id, "state": text, "ts": lead.last_event_at, "now": now})
        elif column != lead.engagement:
            others.append({"lid": lead_id, "state": text})
        lead.engagement = column
    where = Lead.lead_id == bindparam("lid")
    if touched:
        conn.execute(
            update(Lead)
            .where(where)
            .values(
                engagement=bindparam("state"),
                last_event_at=bindparam("ts"),
                updated_at=bindparam("now"),
                revision=Lead.revision + 1,
            ),
            touched,
        )
    if others:
        conn.execute(update(Lead).where(where).values(engagement=bindparam("state")), others)


def score_leads(
    version: CompiledVersion,
    leads: Sequence[LeadState],
    states: Mapping[str, EngagementState],
    now: float,
) -> list[LeadScore]:
    scorer = version.scorer
    return scorer.score_engaged(
        [
            (
                lead_row(lead.lead_id, lead.attributes),
                states[lead.lead_id].parts(scorer, now, lead.latest),
                states[lead.lead_id].event_counts(now),
            )
            for lead in leads
        ],
        now,
    )
