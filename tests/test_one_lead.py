"""The one-lead scorer as the service uses it: compiled once, plain dicts in and out.

Its numbers are checked against every engine in the conformance suite; here, what
online scoring must also hold (in the manner of river's checks for online models):
the order of a lead's attributes and of its events changes nothing, and neither
does an optional attribute left out rather than sent empty.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.columns import normalized
from leadscore.errors import UsageError
from leadscore.model.conditions import Test
from leadscore.model.load import parse_model
from leadscore.one_lead import LeadScorer
from leadscore.plan import build_plan
from leadscore.values import normalize_text, text_form
from tests.conformance import PREDICTIVE_CASES
from tests.strategies import AS_OF, leads_and_events, models

SETTINGS = settings(max_examples=60, derandomize=True, database=None, deadline=None)


@SETTINGS
@given(models(), leads_and_events(max_leads=3), st.integers(0, 2**16))
def test_order_of_attributes_and_events_changes_nothing(model, data, seed) -> None:
    leads, events = data
    scorer = LeadScorer(model)
    shuffle = random.Random(seed)
    for lead in leads:
        mine = [e for e in events if e["lead_id"] == lead["lead_id"]]
        want = scorer.score(lead, mine, as_of=AS_OF).as_dict()
        items = list(lead.items())
        shuffle.shuffle(items)
        reordered = list(mine)
        shuffle.shuffle(reordered)
        got = scorer.score(dict(items), reordered, as_of=AS_OF).as_dict()
        assert got == want


@SETTINGS
@given(models(), leads_and_events(max_leads=3))
def test_an_absent_attribute_is_a_missing_one(model, data) -> None:
    """A null attribute, the same attribute left out, and columns no rule reads."""
    leads, events = data
    scorer = LeadScorer(model)
    for lead in leads:
        mine = [e for e in events if e["lead_id"] == lead["lead_id"]]
        want = scorer.score(lead, mine, as_of=AS_OF).as_dict()
        sparse = {k: v for k, v in lead.items() if v is not None}
        padded = {**lead, "utm_source": "newsletter", "notes": None}
        thin_events = [{k: v for k, v in e.items() if v is not None} for e in mine]
        assert scorer.score(sparse, thin_events, as_of=AS_OF).as_dict() == want
        assert scorer.score(padded, mine, as_of=AS_OF).as_dict() == want


def test_results_are_plain_json_and_the_same_lead_scores_the_same(tmp_path: Path) -> None:
    case = PREDICTIVE_CASES[0]
    (tmp_path / "p.lgb.txt").write_text(case.booster)
    scorer = LeadScorer(case.model, predictive_file=tmp_path / "p.lgb.txt")
    lead = case.leads.to_pylist()[0]
    events = [e for e in case.events.to_pylist() if e["lead_id"] == lead["lead_id"]]
    first = scorer.score(lead, events, as_of=case.as_of).as_dict()
    assert json.loads(json.dumps(first)) == first  # plain types only
    assert set(first) >= {"score", "grade", "mql", "probability", "reasons", "factors"}
    # One booster for the scorer's life; many leads in one call give each its own.
    many = scorer.score_many([(lead, events), ({"lead_id": "z"}, [])], as_of=case.as_of)
    assert many[0].as_dict() == first
    assert many[1].probability != first["probability"]


def test_a_predictive_model_needs_its_file() -> None:
    with pytest.raises(UsageError, match="predictive component: give its file"):
        LeadScorer(PREDICTIVE_CASES[0].model)


def test_an_unknown_test_is_refused_when_the_model_is_compiled() -> None:
    """A model built in code can hold a test no scorer knows: it is named, not a KeyError."""
    import ibis

    from leadscore.compile import compile_model

    model = parse_model(
        "model: m\nfit:\n  rules:\n    - {name: big, points: 5, if: {n: {gt: 1}}}\n"
    )
    rule = model.fit.rules[0].model_copy(update={"condition": Test("n", "greater", 1)})
    broken = model.model_copy(update={"fit": model.fit.model_copy(update={"rules": [rule]})})
    leads = ibis.table({"lead_id": "string", "n": "string"}, name="leads")
    for compile_it in (
        build_plan,
        LeadScorer,
        lambda m: compile_model(m, leads, None, as_of=0.0),
    ):
        with pytest.raises(UsageError, match="rule 'big': unknown test 'greater' on 'n'"):
            compile_it(broken)


def test_the_plan_resolves_the_models_defaults() -> None:
    plan = build_plan(
        parse_model(
            """
model: m
fit:
  grades: {A: 20, B: 10}
engagement:
  half_life_days: 30
  window_days: 90
  categories: {intent: {max: 50}}
  rules:
    - {name: visit, event: view, points: 1}
    - {name: demo, event: demo, points: 10, half_life_days: null, first_only: true,
       category: intent}
    - {name: old, event: view, points: 1, decay: false, window_days: null}
thresholds:
  mql: {score: 30, min_grade: B}
"""
        )
    )
    terms = {t.name: t for t in plan.events}
    assert (terms["visit"].half_life_days, terms["visit"].window_days) == (30.0, 90.0)
    assert (terms["demo"].half_life_days, terms["demo"].total_limit) == (None, 1)
    assert (terms["old"].half_life_days, terms["old"].window_days) == (None, None)
    assert [(c.name, c.members, c.high) for c in plan.categories] == [
        (None, ("visit", "old"), None),
        ("intent", ("demo",), 50.0),
    ]
    assert plan.mql_grades == {"A", "B"} and plan.grade_names == ("A", "B", "F")
    assert plan.is_mql(30, "B") and not plan.is_mql(30, "F") and not plan.is_mql(29.9, "A")


FLOATS = [0.1, 1e15, 1e16, 1e20, 1.5e300, -0.0, 123456789.123, 5e-324, 1e-7, 2.5, 1 / 3,
          -3.0, 12.0, float("inf"), float("nan"), None]  # fmt: skip


def test_arrow_reads_numbers_as_text_as_python_does() -> None:
    """learn and the predictive part read columns with Arrow; NaN once read as "nan"
    and 1e20 as a wrapped integer there."""
    want = [None if text_form(x) is None else normalize_text(text_form(x)) for x in FLOATS]
    assert normalized(pa.array(FLOATS, pa.float64())).to_pylist() == want
    chunked = pa.chunked_array([FLOATS[:5], FLOATS[5:]], pa.float64())
    assert normalized(chunked).to_pylist() == want


def test_a_plan_is_read_not_rebuilt_by_the_scorer() -> None:
    plan = build_plan(
        parse_model("model: m\nfit:\n  rules:\n    - {name: a, points: 1, if: {x: 1}}\n")
    )
    assert LeadScorer(plan).plan is plan


def test_an_event_without_a_readable_time_is_named() -> None:
    rules = "  rules:\n    - {name: v, event: view, points: 1}\n"
    model = parse_model("model: m\nengagement:\n" + rules)
    scorer = LeadScorer(model)
    ok = {"event": "view", "timestamp": "2024-01-01"}
    with pytest.raises(UsageError, match=r"events\[1\]\.timestamp: required"):
        scorer.score({"lead_id": "a"}, [ok, {"event": "view"}], as_of="2024-02-01")
    with pytest.raises(UsageError, match=r"events\[0\]\.timestamp: 'yesterday' is not a time"):
        scorer.score({"lead_id": "a"}, [{"event": "view", "timestamp": "yesterday"}], as_of=0)
