"""The service's engagement state (leadscore.service.engagement) gives the points that the
one-lead scorer gives on the whole history, whatever the order and the time events
arrive in: late ones, ones dated after their arrival, windows and days passing between
arrivals, per-day and total limits, decay."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.engines import DuckDBEngine
from leadscore.inputs import prepare
from leadscore.one_lead import LeadScorer, _events
from leadscore.plan import build_plan
from leadscore.service import engagement
from leadscore.service.bulk_engagement import batch_states
from leadscore.service.online import ID_COLUMN, CompiledVersion
from leadscore.timeutil import SECONDS_PER_DAY, to_epoch
from tests.conformance import PREDICTIVE_CASES
from tests.strategies import (
    AS_OF,
    EVENT_TYPES_ARROW,
    LEAD_TYPES,
    leads_and_events,
    model_documents,
    models,
    parse_document,
    to_arrow,
)

DAY = SECONDS_PER_DAY


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def _cold(scorer: LeadScorer, events: list[dict], at: float) -> list[dict]:
    """What the service reads from the database to build a state as of `at`."""
    needs = scorer.plan.event_needs
    return [
        e
        for e in events
        if e["event"] in needs
        and (needs[e["event"]] is None or e["timestamp"] > at - needs[e["event"]] * DAY)
    ]


def _check(scorer: LeadScorer, state, received: list[dict], as_of: float) -> None:
    seen = [e for e in received if e["timestamp"] <= as_of]
    latest = max((e["timestamp"] for e in seen), default=None)
    want = scorer.engagement_parts(_events(received), as_of, latest)
    got = state.parts(scorer, as_of, latest)
    assert want.keys() == got.keys()
    for name in want:
        assert _close(got[name], want[name]), (name, got[name], want[name], as_of)
    counts = scorer.event_counts(_events(received), as_of)
    assert state.event_counts(as_of) == counts


@settings(max_examples=300, deadline=None)
@given(
    models(),
    leads_and_events(max_leads=1, max_events=40),
    st.floats(0, 45 * DAY),
    st.lists(st.floats(0, 20 * DAY), min_size=1, max_size=6),
    st.integers(0, 10**6),
)
def test_state_gives_the_points_of_the_whole_history(model, data, start, gaps, seed):
    scorer = LeadScorer(build_plan(model))
    _, events = data
    rng = random.Random(seed)
    rng.shuffle(events)
    # Arrivals start before most events happen and step forward by the gaps drawn: events
    # arrive late, early (dated after their arrival), and windows move between arrivals.
    cuts = sorted(rng.randint(0, len(events)) for _ in gaps)
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    at = AS_OF - start
    received: list[dict] = []
    state = None
    for batch, gap in zip(batches, [0.0, *gaps], strict=False):
        at += gap
        received += batch
        if state is None or rng.random() < 0.2:  # sometimes rebuilt, as after activation
            state = engagement.build(scorer, "1", _cold(scorer, received, at), at)
        else:
            state = engagement.add(state, scorer, batch, at)
        # stored and read back, as the service does between requests
        state = engagement.from_column(json.loads(json.dumps({"m": state.as_column()})), "m")
        assert state is not None
        for later in (0.0, 1.0, DAY, 3 * DAY, 45 * DAY):
            _check(scorer, state, received, at + later)


@settings(max_examples=60, deadline=None)
@given(model_documents(), leads_and_events(max_leads=4, max_events=40), st.floats(0, 45 * DAY))
def test_batch_engine_makes_the_states_the_service_builds(document, data, before):
    """An import or activation writes the states DuckDB makes: the same as the ones built
    online from the same events."""
    model = parse_document(document)
    plan = build_plan(model, ID_COLUMN)
    version = CompiledVersion("m", "1", model, plan, LeadScorer(plan), None)
    leads, events = data
    events = [e for e in events if e["lead_id"] != "ghost"]
    at = AS_OF - before
    engine = DuckDBEngine()
    inputs = prepare(
        engine,
        model,
        engine.from_arrow(to_arrow(leads, LEAD_TYPES)),
        engine.from_arrow(to_arrow(events, EVENT_TYPES_ARROW)),
        leads_name="leads",
        events_name="events",
        id_column=ID_COLUMN,
    )
    made = batch_states(engine, version, inputs.events, at)
    for lead in leads:
        mine = [e for e in events if e["lead_id"] == lead["lead_id"]]
        want = engagement.build(version.scorer, "1", _cold(version.scorer, mine, at), at)
        got = engagement.from_column({"m": made[lead["lead_id"]]}, "m") if mine else None
        if got is None:  # no events: the empty state, written as such by save_states
            assert all(not r.times and not r.folded for r in want.rules)
            continue
        for g, w in zip(got.rules, want.rules, strict=True):
            assert len(g.times) == len(w.times), (g.times, w.times)
            assert all(abs(a - b) < 1e-6 for a, b in zip(g.times, w.times, strict=True))
            assert _close(g.folded, w.folded), (g.folded, w.folded)
        assert got.counts == want.counts and got.pending == want.pending


@pytest.mark.parametrize("case", PREDICTIVE_CASES, ids=lambda c: c.name)
def test_predictive_counts_come_from_the_state(case, tmp_path):
    """A predictive part's event counts, kept in the state (online and by DuckDB), give
    the probabilities and factors of the scorer fed every event."""
    (tmp_path / "p.lgb.txt").write_text(case.booster)
    plan = build_plan(case.model)
    scorer = LeadScorer(plan, predictive_file=tmp_path / "p.lgb.txt")
    version = CompiledVersion("m", "1", case.model, plan, scorer, tmp_path / "p.lgb.txt")
    as_of = to_epoch(case.as_of)
    leads = case.leads.to_pylist()
    events = case.events.to_pylist() if case.events is not None else []
    engine = DuckDBEngine()
    inputs = prepare(
        engine,
        case.model,
        engine.from_arrow(case.leads),
        engine.from_arrow(case.events) if case.events is not None else None,
        leads_name="leads",
        events_name="events",
    )
    made = batch_states(engine, version, inputs.events, as_of)
    assert scorer.counted_events  # the case counts events
    key = plan.id_column
    for lead in leads:
        mine = [e for e in events if e["lead_id"] == lead[key]]
        want = scorer.score(lead, mine, as_of=as_of)
        # The service's rows carry epoch seconds (the case's times are text).
        mine = [{**e, "timestamp": ev.t} for e, ev in zip(mine, _events(mine), strict=True)]
        online = engagement.build(scorer, "1", mine, as_of)
        stored = engagement.from_column({"m": made[str(lead[key])]}, "m") if mine else online
        for state in (online, stored):
            assert state is not None
            latest = max((e["timestamp"] for e in mine if e["timestamp"] <= as_of), default=None)
            [got] = scorer.score_engaged(
                [(lead, state.parts(scorer, as_of, latest), state.event_counts(as_of))], as_of
            )
            assert got.probability == pytest.approx(want.probability, abs=1e-12)
            assert got.factors == want.factors
