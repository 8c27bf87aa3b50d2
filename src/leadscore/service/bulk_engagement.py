"""Every lead's engagement state made by the batch engine, where it reads the events (an
import, an activation): otherwise each lead's first event afterwards would read its
history once, online (1,000 leads a second where the batch makes a million a minute)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
from sqlalchemy import Connection, bindparam, select, update

from leadscore.compile.dialects import dialect_for
from leadscore.compile.engagement import (
    EventsRead,
    count_column,
    folded_column,
    pending_column,
    state_lists,
    times_column,
)
from leadscore.compile.readings import add_readings, readings_for
from leadscore.engines.base import IbisEngine
from leadscore.service import engagement
from leadscore.service.engagement import EngagementState, RuleState
from leadscore.service.gc_pause import many_objects
from leadscore.service.online import CompiledVersion
from leadscore.service.store.database import id_chunks
from leadscore.service.store.tables import Lead

States = dict[str, dict[str, Any]]  # lead id -> its state under one version, as stored


def batch_states(
    engine: IbisEngine, version: CompiledVersion, events: ir.Table | None, now: float
) -> States:
    """The state of every lead that has events among the canonical `events` (every event
    that a window as of `now` can still count, those dated later included)."""
    if events is None:
        return {}
    plan = version.plan
    dialect = dialect_for(engine.dialect)
    readings = readings_for(t.condition for t in plan.events)
    read = add_readings(events, readings, sorted(plan.missing), dialect)
    ev = EventsRead(engine.view(read) if readings.text else events, readings, dialect)
    counted = list(version.scorer.counted_events)
    table = engine.to_arrow(state_lists(plan, ev, ibis.literal(float(now)), counted))
    rules = [t.index for t in plan.events]
    out: States = {}
    with many_objects():
        columns = {name: table.column(name).to_pylist() for name in table.column_names}
        for row, lead_id in enumerate(columns["lead_id"]):
            state = EngagementState(
                version.version,
                now,
                [
                    RuleState(
                        columns[folded_column(i)][row] or 0.0
                        if folded_column(i) in columns
                        else 0.0,
                        columns[times_column(i)][row] or [],
                    )
                    for i in rules
                ],
                {k: columns[count_column(j)][row] for j, k in enumerate(counted)},
                {
                    k: times
                    for j, k in enumerate(counted)
                    if (times := columns[pending_column(j)][row])
                },
            )
            out[lead_id] = state.as_column()
    return out


def save_states(
    conn: Connection,
    version: CompiledVersion,
    lead_ids: Sequence[str],
    states: States,
    now: float,
) -> None:
    """The leads' states under the version written into their `engagement` column (other
    models' states kept); a lead with no events gets the empty state."""
    empty = engagement.build(version.scorer, version.version, (), now).as_column()
    values = []
    for part in id_chunks(lead_ids):
        for lead_id, column in conn.execute(_COLUMNS, {"ids": part}):
            stored = json.loads(column) if column else {}
            stored[version.name] = states.get(lead_id) or empty
            values.append({"lid": lead_id, "state": json.dumps(stored, separators=(",", ":"))})
    if values:
        conn.execute(_SAVE, values)


_COLUMNS = select(Lead.lead_id, Lead.engagement).where(
    Lead.lead_id.in_(bindparam("ids", expanding=True))
)
_SAVE = update(Lead).where(Lead.lead_id == bindparam("lid")).values(engagement=bindparam("state"))
