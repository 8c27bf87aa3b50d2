"""Scoring leads one at a time in the service: the one-lead scorer of each active model
version (compiled once per process), fed with only the events its windows can count."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from leadscore.model.load import parse_model
from leadscore.model.schema import ScoringModel
from leadscore.one_lead import LeadScore, LeadScorer
from leadscore.plan import ScoringPlan, build_plan
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
    """A lead as the scorer reads it: attributes, the events its windows need, the time of
    its latest event up to now."""

    lead_id: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    latest: float | None


def load_leads(
    conn: Connection, lead_ids: Sequence[str], versions: Sequence[CompiledVersion], now: float
) -> dict[str, LeadState]:
    """The leads that exist among `lead_ids`, with their bounded events."""
    states: dict[str, LeadState] = {}
    for part in id_chunks(lead_ids):
        rows = conn.execute(
            select(Lead.lead_id, Lead.attributes, Lead.last_event_at).where(Lead.lead_id.in_(part))
        )
        future = []
        for r in rows:
            latest = r.last_event_at
            if latest is not None and latest > now:
                future.append(r.lead_id)
            states[r.lead_id] = LeadState(r.lead_id, r.attributes or {}, [], latest)
        if future:  # an event dated after now: inactivity reads the latest one before it
            for lead_id, latest in conn.execute(
                select(Event.lead_id, func.max(Event.ts))
                .where(Event.lead_id.in_(future), Event.ts <= now)
                .group_by(Event.lead_id)
            ):
                states[lead_id].latest = latest
            for lead_id in future:
                if states[lead_id].latest is not None and states[lead_id].latest > now:
                    states[lead_id].latest = None
    needs = needs_of(versions)
    if needs and states:
        _load_events(conn, states, needs, now)
    return states


def _load_events(
    conn: Connection, states: dict[str, LeadState], needs: dict[str, float | None], now: float
) -> None:
    whole = [e for e, days in needs.items() if days is None]
    windows = [(e, days) for e, days in needs.items() if days is not None]
    kinds = []
    if whole:
        kinds.append(Event.event.in_(whole))
    kinds += [
        and_(Event.event == e, Event.ts > now - days * SECONDS_PER_DAY) for e, days in windows
    ]
    for part in id_chunks(states):
        query = (
            select(Event.lead_id, Event.event_id, Event.event, Event.ts, Event.properties)
            .where(Event.lead_id.in_(part), Event.ts <= now, or_(*kinds))
            .order_by(Event.id)
        )
        for lead_id, event_id, event, ts, props in conn.execute(query):
            states[lead_id].events.append(event_row(event_id, event, ts, props or {}))


def score_states(
    version: CompiledVersion, states: Sequence[LeadState], now: float
) -> list[LeadScore]:
    return version.scorer.score_many(
        [(lead_row(s.lead_id, s.attributes), s.events) for s in states],
        as_of=now,
        latest=[s.latest for s in states],
    )
