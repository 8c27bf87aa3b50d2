"""One suite of engine cases on every engine: DuckDB, Spark (local), PostgreSQL, and
the one-lead scorer (what the service scores with); outputs compared row by row to 1e-6.

Spark and PostgreSQL are real: a local[2] session and a throw-away PostgreSQL server
on 127.0.0.1 (tests/services.py). A known gap is an xfail with its reason in GAPS,
strict, so that it is noticed when it closes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from leadscore.batch import score_tables
from leadscore.compile import engagement
from leadscore.one_lead import LeadScorer, score_lead
from tests.conformance import ACCOUNT_EXPECT, CASES, PREDICTIVE_CASES, Case, PredictiveCase
from tests.strategies import (
    AS_OF,
    EVENT_TYPES_ARROW,
    LEAD_TYPES,
    leads_and_events,
    models,
    to_arrow,
)
from tests.test_agreement import assert_agrees

TOL = 1e-6
ENGINES = ["one-lead", "duckdb", "spark", "postgres"]
# (engine, case name) -> why the engine differs there. Empty: no known gap.
GAPS: dict[tuple[str, str], str] = {}

Rows = dict[Any, dict[str, Any]]


def _engine(name: str, request: pytest.FixtureRequest):
    if name == "duckdb":
        from leadscore.engines import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        from leadscore.engines.spark import SparkEngine

        return SparkEngine(session=request.getfixturevalue("spark_session"))
    from leadscore.engines.warehouse import WarehouseEngine

    return WarehouseEngine(request.getfixturevalue("postgres_url"))


def predictive_file(case: Case, folder: Path) -> Path | None:
    """The case's LightGBM file, written where its model names it."""
    if not isinstance(case, PredictiveCase):
        return None
    assert case.model.predictive is not None
    path = folder / case.model.predictive.file
    path.write_text(case.booster)
    return path


def run_one_lead(case: Case, folder: Path) -> tuple[Rows, list[dict[str, Any]] | None]:
    """The case through the one-lead scorer: compiled once, then lead by lead."""
    model = case.model
    scorer = LeadScorer(model, predictive_file=predictive_file(case, folder))
    leads = case.leads.to_pylist()
    events = case.events.to_pylist() if case.events is not None else []
    scores = {
        lead[model.id]: scorer.score(
            lead, [e for e in events if e["lead_id"] == lead[model.id]], as_of=case.as_of
        )
        for lead in leads
    }
    rows = {}
    for key, s in scores.items():
        row = {"lead_id": key, **s.as_dict()}
        row["reasons"] = json.dumps(row["reasons"])
        if "factors" in row:
            row["factors"] = json.dumps(row["factors"])
        rows[key] = row
    accounts = None
    if model.accounts is not None:
        accounts = [vars(a) for a in scorer.accounts(leads, scores)]
    return rows, accounts


def by_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every engagement rule down the plan for many rules (compile.engagement)."""
    monkeypatch.setattr(engagement, "PER_RULE_LIMITED", 0)
    monkeypatch.setattr(engagement, "PER_RULE_UNLIMITED", 0)
    monkeypatch.setattr(engagement, "FILTERED_PIVOT", 0)


@pytest.fixture(params=ENGINES)
def engine_run(
    request, tmp_path: Path
) -> Callable[[Case], tuple[Rows, list[dict[str, Any]] | None]]:
    name = request.param

    def run(case: Case) -> tuple[Rows, list[dict[str, Any]] | None]:
        gap = GAPS.get((name, case.name))
        if gap:
            request.applymarker(pytest.mark.xfail(reason=gap, strict=True))
        if name == "one-lead":
            return run_one_lead(case, tmp_path)
        engine = _engine(name, request)
        try:
            scored = score_tables(
                case.model,
                case.leads,
                case.events,
                as_of=case.as_of,
                engine=engine,
                predictive_file=predictive_file(case, tmp_path),
            )
        finally:
            engine.close()
        types = {f.name: str(f.type) for f in scored.scores.schema}
        for column in ("score", "fit_score", "engagement_score", "probability"):
            assert types[column] == "double", (column, types)
        assert types["mql"] == "bool" and types["reasons"] == "string", types
        accounts = scored.accounts.to_pylist() if scored.accounts is not None else None
        return {r["lead_id"]: r for r in scored.scores.to_pylist()}, accounts

    run.engine = name  # type: ignore[attr-defined]
    return run


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(a, b, rel_tol=0, abs_tol=TOL)
    return a == b


def assert_rows_equal(got: Rows, want: Rows) -> None:
    assert set(got) == set(want)
    for lead, row in want.items():
        mine = got[lead]
        for column, value in row.items():
            if column == "reasons":
                a, b = json.loads(mine[column]), json.loads(value)
                assert [r["rule"] for r in a] == [r["rule"] for r in b], (lead, a, b)
                for x, y in zip(a, b, strict=True):
                    assert _same(float(x["points"]), float(y["points"])), (lead, a, b)
            elif column == "factors":
                a, b = json.loads(mine[column]), json.loads(value)
                assert [(f["feature"], f["value"]) for f in a] == [
                    (f["feature"], f["value"]) for f in b
                ], (lead, a, b)
                for x, y in zip(a, b, strict=True):
                    assert _same(x["contribution"], y["contribution"]), (lead, a, b)
            else:
                assert _same(mine[column], value), (lead, column, mine[column], value)


# Cases with engagement rules run through both plans; the one-lead scorer has but one.
CASE_PLANS = [
    (case, plan)
    for case in [*CASES, *PREDICTIVE_CASES]
    for plan in (["per rule", "by hits"] if "engagement:" in case.model_yaml else ["per rule"])
]


@pytest.mark.parametrize(
    ("case", "plan"), CASE_PLANS, ids=[f"{plan}-{case.name}" for case, plan in CASE_PLANS]
)
def test_case(
    engine_run, case: Case, plan: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if plan == "by hits":
        if engine_run.engine == "one-lead":
            return  # one plan only: the "per rule" run checks it
        by_hits(monkeypatch)
    rows, accounts = engine_run(case)
    expected_rows, expected_accounts = run_one_lead(case, tmp_path)
    assert_rows_equal(rows, expected_rows)
    if isinstance(case, PredictiveCase):
        for lead, (probability, factors) in case.expect_predictive.items():
            assert _same(rows[lead]["probability"], probability), (lead, rows[lead])
            got = [tuple(f.values()) for f in json.loads(rows[lead]["factors"])]
            assert [g[:2] for g in got] == [f[:2] for f in factors], (lead, got)
            assert all(_same(g[2], f[2]) for g, f in zip(got, factors, strict=True)), got
    for lead, expect in case.expect.items():
        for column, value in expect.items():
            if column == "reasons":
                got = {r["rule"]: r["points"] for r in json.loads(rows[lead]["reasons"])}
                assert got.keys() == value.keys(), (lead, got, value)
                assert all(_same(got[k], value[k]) for k in value), (lead, got, value)
            else:
                assert _same(rows[lead][column], value), (lead, column, rows[lead][column])
    if expected_accounts is not None:
        assert accounts is not None
        assert len(accounts) == len(expected_accounts)
        for mine, theirs in zip(accounts, expected_accounts, strict=True):
            assert mine.keys() == theirs.keys()
            assert all(_same(mine[k], theirs[k]) for k in theirs), (mine, theirs)
    if case.name in ACCOUNT_EXPECT:
        assert [sorted(a.items()) for a in accounts or []] == [
            sorted(a.items()) for a in ACCOUNT_EXPECT[case.name]
        ]


@pytest.mark.parametrize("engine_name", ["spark", "postgres"])
def test_random_models_agree(engine_name: str, request: pytest.FixtureRequest) -> None:
    """The DuckDB engine meets the one-lead scorer on many random models (test_agreement);
    the other engines on fewer, since each example is a round of real queries."""

    @settings(max_examples=12, derandomize=True, database=None)
    @given(models(), leads_and_events())
    def check(model, data) -> None:
        leads, events = data
        engine = _engine(engine_name, request)
        try:
            scored = score_tables(
                model,
                to_arrow(leads, LEAD_TYPES),
                to_arrow(events, EVENT_TYPES_ARROW),
                as_of=AS_OF,
                engine=engine,
            )
        finally:
            engine.close()
        rows = {r["lead_id"]: r for r in scored.scores.to_pylist()}
        for lead in leads:
            mine = [e for e in events if e["lead_id"] == lead["lead_id"]]
            expected = score_lead(model, lead, mine, as_of=AS_OF)
            assert_agrees(model, rows[lead["lead_id"]], expected)

    check()


# Valid and invalid text times: every engine must read each as timeutil.parse_text does.
TIME_TEXTS = [
    "2024-05-10", "2024-05-10T14:02Z", "2024-05-10t14:02:00z", "2024-05-10 14:02:00 +01:00",
    "2024-05-10T14:02:00+0100", "2024-05-10T14:02:00+01", "2024-05-10T14:02:00.123456789Z",
    "2024-05-10T14:02:00-00:30", " 2024-05-10 ", "0001-01-01", "9999-12-31T23:59:59Z",
    "2024-02-29", "2000-02-29", "1715331600", "-12.5", "+7", " 1715331600.125 ",
    # not times
    "2024-05-10T14:02:00 America/New_York", "2024-05-10T24:00:00", "14:02Z", "2024-05-10T14",
    "2024-02-30", "2023-02-29", "1900-02-29", "20240510T140200Z", "2024-05-10T14:02:60Z",
    "0000-01-01", "2024-13-01", "2024-05-10T14:02:00+1", "2024-05-10  14:02", "1715331600000",
    "1e9", "last tuesday", "", "2024-05-10T14:02:00.1234567890Z", "2024/05/10", "May 10, 2024",
    "1714571100\u0085", "2024-05-10\u2028",  # Java's $ would match before these line ends
]  # fmt: skip
# Letters whose lowercase engines are known to get wrong in one way or another.
LOWER_TEXTS = [
    "ΟΔΟΣ ΣΑΣ",
    "İSTANBUL",
    "ıI",
    "ẞ",
    "K Å Ω",
    "ÀÉÎÕÜÇÑ",
    "ДЖЕМ Ёж",
    "ԱԲԳ",
    "ǅǈǋ",
    "ⅫⒶ",
    "𐐀𐐁",
]


@pytest.mark.parametrize("engine_name", ["duckdb", "spark", "postgres"])
def test_text_times_and_lowercase_alike(engine_name: str, request: pytest.FixtureRequest) -> None:
    """The time grammar and the lowercase rule, value by value, on every engine."""
    import pyarrow as pa

    from leadscore.compile.dialects import dialect_for
    from leadscore.engines.canonical import ROW, text_epoch_seconds
    from leadscore.timeutil import TimeError, parse_text
    from leadscore.values import lower_text

    engine = _engine(engine_name, request)
    try:
        dialect = dialect_for(engine.dialect)
        texts = engine.from_arrow(pa.table({"s": TIME_TEXTS}))
        times = engine.to_arrow(
            texts.select(row=texts[ROW], v=text_epoch_seconds(texts.s, dialect.regex)).order_by(
                "row"
            )
        )["v"].to_pylist()
        words = engine.from_arrow(pa.table({"s": LOWER_TEXTS}))
        lower = dialect.lower
        lowered = engine.to_arrow(words.select(row=words[ROW], v=lower(words.s)).order_by("row"))[
            "v"
        ].to_pylist()
    finally:
        engine.close()
    for text, got in zip(TIME_TEXTS, times, strict=True):
        try:
            want = parse_text(text)
        except TimeError:
            want = None
        assert _same(got, want), (text, got, want)
    assert lowered == [lower_text(t) for t in LOWER_TEXTS]


# Patterns whose RE2 meaning other engines read differently unless translated, and
# texts that tell the readings apart (patterns.translate).
PATTERN_TEXTS = {
    r"\d{3}[\s-.]\d{4}": ["555-1234", "555 1234", "555!1234"],
    r"[\d-.]x": ["-x", "5x", "/x"],
    r"{{name}}": ["hi {{name}}", "hi name"],
    r"a{2,}b{1}": ["aab", "ab"],
    r"(?m:a$)|b$": ["b\n", "a\nb", "b"],
    r"(?m)^$": ["a\n", "a", "a\n\nb"],
    r"(?i)x(?-i)Y": ["XY", "xy"],
    r"[[.]a": ["[a", ".a", "ba"],
    r"[^]a]b": ["]b", "cb"],
    r"x\b": ["xé", "xy", "x"],
    r"^\w+$": ["café", "cafe"],
    r"a\sb": ["a\x0bb", "a b"],
    r"x.y": ["x\ry", "x\ny", "x\u2028y"],
    r"\p{Greek}+": ["αβγ", "abc"],
    r"\p{^Greek}": ["α", "a"],
    r"[\p{Lu}-]x": ["Ax", "-x", "ax"],
    r"\QA.b\E": ["A.b", "Axb"],
}


@pytest.mark.parametrize("engine_name", ["duckdb", "spark", "postgres"])
def test_patterns_match_as_re2_does(engine_name: str, request: pytest.FixtureRequest) -> None:
    import pyarrow as pa

    from leadscore import patterns
    from leadscore.compile.dialects import dialect_for
    from leadscore.engines.canonical import ROW

    engine = _engine(engine_name, request)
    regex = dialect_for(engine.dialect).regex
    pairs = []
    for pattern, texts in PATTERN_TEXTS.items():
        try:
            translated = regex(pattern)
        except patterns.PatternError:
            assert engine_name == "postgres", pattern  # \p{...}: PostgreSQL has none
            continue
        pairs += [(pattern, translated, text) for text in texts]
    try:
        table = engine.from_arrow(pa.table({"t": [t for _, _, t in pairs]}))
        got = engine.to_arrow(
            table.select(
                row=table[ROW],
                **{f"m{i}": table.t.re_search(p) for i, (_, p, _) in enumerate(pairs)},
            ).order_by("row")
        ).to_pylist()
    finally:
        engine.close()
    for i, (pattern, _, text) in enumerate(pairs):
        assert got[i][f"m{i}"] == patterns.search(pattern, text), (pattern, text)


FLOATS = [0.1, 1e15, 999999999999999.0, 1e16, 1e20, 1.5e300, -0.0, 123456789.123, 5e-324,
          1e-7, 2.5, 1 / 3, -3.0, 12.0, float("nan"), None]  # fmt: skip


@pytest.mark.parametrize("engine_name", ["duckdb", "spark", "postgres"])
def test_numbers_as_text_as_the_one_lead_scorer_writes_them(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    """A number column compared as text (equals, in, an account key) reads as
    leadscore.values.text_form writes it; 1e20 once overflowed an integer cast."""
    import pyarrow as pa

    from leadscore.engines.canonical import ROW, text_form
    from leadscore.values import text_form as python_text

    engine = _engine(engine_name, request)
    try:
        table = engine.from_arrow(pa.table({"x": pa.array(FLOATS, pa.float64())}))
        got = engine.to_arrow(table.select(row=table[ROW], s=text_form(table.x)).order_by("row"))
    finally:
        engine.close()
    # Spark writes floats as Java does (1.23456789123E8, 4.9E-324): the same in every
    # integral value below 1e16 and in short decimals, other in exponents (README).
    kept = [
        i for i, v in enumerate(FLOATS)
        if engine_name != "spark" or v is None or v != v or (v.is_integer() and abs(v) < 1e16)
        or 1e-3 <= abs(v) < 1e7
    ]  # fmt: skip
    assert [got["s"][i].as_py() for i in kept] == [python_text(FLOATS[i]) for i in kept]
