"""Hypothesis strategies: random models, leads and event streams that stress the semantics."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from leadscore.model import ScoringModel

AS_OF = 1_700_006_400.0  # 2023-11-15T00:00:00Z: a UTC midnight, so day edges are near
DAY = 86400.0
LEAD_COLUMNS = ("industry", "size", "title")
TEXT_POOL = ["software", "Software ", " retail", "n/a", "", "unknown", "VP Sales", "ceo", "x"]
NUMBER_POOL = ["10", " 250 ", "5000", "1e3", "-3", "abc", "", "1,000", "0.5", "12."]
EVENT_TYPES = ("view", "open", "demo")
URL_POOL = ["/pricing", "/docs", "/PRICING/plans", None, ""]


def _text_test():
    return st.one_of(
        st.sampled_from(TEXT_POOL).map(lambda v: v),  # bare value: equals
        st.fixed_dictionaries({"equals": st.sampled_from(TEXT_POOL[:4])}),
        st.fixed_dictionaries({"not_equals": st.sampled_from(TEXT_POOL[:4])}),
        st.fixed_dictionaries({"in": st.lists(st.sampled_from(TEXT_POOL), min_size=1, max_size=3)}),
        st.fixed_dictionaries({"not_in": st.just("pool")}),
        st.fixed_dictionaries({"contains": st.sampled_from(["soft", "ai", "vp", "E"])}),
        st.fixed_dictionaries(
            {"matches": st.sampled_from([r"(?i)\bvp\b", "^s", r"\w+ \w+", "e$"])}
        ),
        st.fixed_dictionaries({"missing": st.booleans()}),
    )


def _number_test():
    num = st.integers(-5, 6000)
    return st.one_of(
        st.fixed_dictionaries({"between": st.tuples(num, num).map(lambda p: sorted(p))}),
        st.fixed_dictionaries({"gt": num}),
        st.fixed_dictionaries({"gte": num}),
        st.fixed_dictionaries({"lt": num}),
        st.fixed_dictionaries({"lte": num}),
        st.fixed_dictionaries({"missing": st.booleans()}),
    )


def _lead_condition():
    single = st.one_of(
        st.builds(lambda t: {"industry": t}, _text_test()),
        st.builds(lambda t: {"title": t}, _text_test()),
        st.builds(lambda t: {"size": t}, _number_test()),
    )
    return st.one_of(
        single,
        st.builds(lambda a, b: {**a, **b}, single, single),
        st.builds(lambda a, b: {"any": [a, b]}, single, single),
    )


def _event_condition():
    return st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"url": st.sampled_from([{"contains": "/pricing"}, "/docs", {"missing": True}])}
        ),
        st.fixed_dictionaries({"value": _number_test()}),
    )


points = st.integers(-30, 40)
maybe_days = st.one_of(st.none(), st.sampled_from([0.5, 1, 2, 7, 30]))


@st.composite
def model_documents(draw) -> dict[str, Any]:
    """A random model as its document (what a YAML file holds)."""
    caps = {
        "b": draw(st.sampled_from([{}, {"max": 20}, {"max": 5, "min": -5}])),
        "i": draw(st.sampled_from([{}, {"max": 50}])),
        "n": draw(st.sampled_from([{}, {"min": -20}])),
    }
    categories = {k: v for k, v in caps.items() if draw(st.booleans())}
    fit_rules = [
        {"name": f"fit{i}", "if": draw(_lead_condition()), "points": draw(points)}
        for i in range(draw(st.integers(0, 4)))
    ]
    rules = []
    for i in range(draw(st.integers(0, 5))):
        rule: dict[str, Any] = {
            "name": f"ev{i}",
            "event": draw(st.sampled_from(EVENT_TYPES)),
            "points": draw(points),
        }
        cond = draw(_event_condition())
        if cond:
            rule["if"] = cond
        category = draw(st.sampled_from([None, "b", "i", "n", "other"]))
        if category:
            rule["category"] = category
        limit = draw(st.sampled_from(["none", "day", "total", "first", "day+total"]))
        if "day" in limit:
            rule["max_per_day"] = draw(st.integers(1, 3))
        if "total" in limit:
            rule["max_total"] = draw(st.integers(1, 4))
        if limit == "first":
            rule["first_only"] = True
        if draw(st.booleans()):
            rule["half_life_days"] = draw(maybe_days)
        if draw(st.booleans()):
            rule["window_days"] = draw(maybe_days)
        if draw(st.integers(0, 4)) == 0:
            rule["decay"] = False
        rules.append(rule)
    inactivity = [
        {
            "name": f"idle{i}",
            "after_days": draw(st.sampled_from([1, 3, 10])),
            "points": draw(points),
            **({"category": "n"} if draw(st.booleans()) else {}),
        }
        for i in range(draw(st.integers(0, 2)))
    ]
    data: dict[str, Any] = {
        "model": "random",
        "missing_values": draw(st.sampled_from([[], ["n/a", "unknown"], ["abc"]])),
        "lists": {"pool": ["software", "retail", "x"]},
        "fit": {"rules": fit_rules},
        "engagement": {
            "half_life_days": draw(maybe_days),
            "window_days": draw(maybe_days),
            "categories": categories,
            "rules": rules,
            "inactivity": inactivity,
        },
        "thresholds": {
            "labels": draw(
                st.sampled_from([{}, {"hot": 30, "warm": 0, "cold": None}, {"hot": 10}])
            ),
        },
    }
    if draw(st.booleans()):
        data["fit"]["grades"] = {"A": 30, "B": 10, "C": 0}
    mql = draw(st.sampled_from([None, {"score": 20}, {"score": 0, "min_grade": "B"}]))
    if mql and ("min_grade" not in mql or "grades" in data["fit"]):
        data["thresholds"]["mql"] = mql
    if draw(st.booleans()):
        data["score_range"] = draw(st.sampled_from([[-10, 25], [0, 100], [-100, 0]]))
    data["calibration"] = draw(
        st.sampled_from([None, {"slope": 0.05, "intercept": -1}, {"points": [[0, 0.1], [20, 0.5]]}])
    )
    if data["calibration"] is None:
        del data["calibration"]
    return data


def parse_document(data: dict[str, Any]) -> ScoringModel:
    return ScoringModel.model_validate(data, context={"lists": data["lists"]})


def models():
    return model_documents().map(parse_document)


@st.composite
def leads_and_events(draw, max_leads: int = 6, max_events: int = 40):
    n = draw(st.integers(1, max_leads))
    leads = [
        {
            "lead_id": f"L{i}",
            "industry": draw(st.sampled_from([*TEXT_POOL, None])),
            "size": draw(st.sampled_from([*NUMBER_POOL, None])),
            "title": draw(st.sampled_from([*TEXT_POOL, None])),
        }
        for i in range(n)
    ]
    # Times cluster near day edges, window edges and as_of itself, where off-by-ones hide.
    offsets = st.one_of(
        st.sampled_from([0, 1, 0.5 * DAY, DAY, DAY + 1, 2 * DAY, 7 * DAY, 30 * DAY, 3 * DAY - 1]),
        st.integers(0, 40 * 86400),
        st.sampled_from([-5, -DAY]),  # after as_of: ignored
    )
    events = []
    for j in range(draw(st.integers(0, max_events))):
        events.append(
            {
                "lead_id": draw(st.sampled_from([*[f"L{i}" for i in range(n)], "ghost"])),
                "event": draw(st.sampled_from(EVENT_TYPES)),
                "timestamp": AS_OF - float(draw(offsets)),
                "event_id": f"e{j}",
                "url": draw(st.sampled_from(URL_POOL)),
                "value": draw(st.sampled_from([*NUMBER_POOL, None])),
            }
        )
    return leads, events


def to_arrow(rows: list[dict], columns: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in columns.items()})


LEAD_TYPES = {"lead_id": pa.string(), **{c: pa.string() for c in LEAD_COLUMNS}}
EVENT_TYPES_ARROW = {
    "lead_id": pa.string(),
    "event": pa.string(),
    "timestamp": pa.float64(),
    "event_id": pa.string(),
    "url": pa.string(),
    "value": pa.string(),
}
