"""The batch engine (Ibis on DuckDB) and the one-lead scorer agree on random models."""

from __future__ import annotations

import itertools
import json
import math
from unittest.mock import patch

from hypothesis import given, settings

from leadscore.batch import score_tables
from leadscore.compile import engagement
from leadscore.one_lead import score_lead
from tests.strategies import (
    AS_OF,
    EVENT_TYPES_ARROW,
    LEAD_TYPES,
    leads_and_events,
    models,
    to_arrow,
)

TOL = 1e-6


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=TOL)


def _on_boundary(model, score: float, fit: float) -> bool:
    """Within rounding of a threshold, where the engines may fairly differ."""
    edges = [m for m in model.thresholds.labels.values() if m is not None]
    edges += list(model.fit.grades.values())
    if model.thresholds.mql:
        edges.append(model.thresholds.mql.score)
    return any(abs(score - e) < TOL or abs(fit - e) < TOL for e in edges)


def assert_agrees(model, engine_row: dict, expected) -> None:
    lead = engine_row["lead_id"]
    for field in ("score", "fit_score", "engagement_score", "probability"):
        assert _close(engine_row[field], getattr(expected, field)), (
            lead,
            field,
            engine_row,
            expected,
        )
    if not _on_boundary(model, expected.score, expected.fit_score):
        for field in ("grade", "label", "mql"):
            assert engine_row[field] == getattr(expected, field), (
                lead,
                field,
                engine_row,
                expected,
            )
    reasons = json.loads(engine_row["reasons"])
    got = {r["rule"]: r["points"] for r in reasons}
    want = {r.rule: r.points for r in expected.reasons}
    assert got.keys() == want.keys() or all(
        abs(got.get(k, 0) - want.get(k, 0)) < TOL for k in got.keys() | want.keys()
    ), (lead, got, want)
    for rule in got.keys() & want.keys():
        assert abs(got[rule] - want[rule]) < TOL, (lead, rule, got, want)
    magnitudes = [abs(r["points"]) for r in reasons]
    assert all(a >= b - TOL for a, b in itertools.pairwise(magnitudes))
    assert abs(sum(got.values()) - engine_row["score"]) < TOL


@given(models(), leads_and_events())
def test_engine_agrees_with_reference(model, data):
    leads, events = data
    result = score_tables(
        model, to_arrow(leads, LEAD_TYPES), to_arrow(events, EVENT_TYPES_ARROW), as_of=AS_OF
    )
    rows = {r["lead_id"]: r for r in result.scores.to_pylist()}
    assert set(rows) == {lead["lead_id"] for lead in leads}
    for lead in leads:
        mine = [e for e in events if e["lead_id"] == lead["lead_id"]]
        assert_agrees(model, rows[lead["lead_id"]], score_lead(model, lead, mine, as_of=AS_OF))


@settings(max_examples=30)
@given(models(), leads_and_events())
def test_engine_by_hits_agrees_with_reference(model, data):
    """The plan for many engagement rules (compile.engagement), on every random model."""
    leads, events = data
    with (
        patch.object(engagement, "PER_RULE_LIMITED", 0),
        patch.object(engagement, "PER_RULE_UNLIMITED", 0),
        patch.object(engagement, "FILTERED_PIVOT", 0),
    ):
        result = score_tables(
            model, to_arrow(leads, LEAD_TYPES), to_arrow(events, EVENT_TYPES_ARROW), as_of=AS_OF
        )
    rows = {r["lead_id"]: r for r in result.scores.to_pylist()}
    for lead in leads:
        mine = [e for e in events if e["lead_id"] == lead["lead_id"]]
        assert_agrees(model, rows[lead["lead_id"]], score_lead(model, lead, mine, as_of=AS_OF))


@given(models(), leads_and_events(max_leads=3, max_events=25))
def test_reference_reasons_sum_to_score(model, data):
    leads, events = data
    for lead in leads:
        result = score_lead(model, lead, events, as_of=AS_OF)
        assert abs(sum(r.points for r in result.reasons) - result.score) < TOL
        assert all(r.points != 0 for r in result.reasons)
        if model.score_range:
            assert model.score_range[0] - TOL <= result.score <= model.score_range[1] + TOL
