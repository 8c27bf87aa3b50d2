"""Model files: what is accepted, and how each mistake is reported (line and field)."""

from __future__ import annotations

import textwrap

import pytest

from leadscore.errors import ModelError
from leadscore.model import load_model, parse_model
from leadscore.model.conditions import AnyOf, Test

BASE = """\
model: m
fit:
  rules:
    - name: big
      if: {employees: {gte: 200}}
      points: 10
  grades: {A: 10, B: 0}
engagement:
  categories:
    intent: {max: 50}
  rules:
    - name: pricing
      event: page_view
      if: {url: {contains: /pricing}}
      points: 5
      category: intent
thresholds:
  mql: {score: 10, min_grade: A}
  labels: {hot: 10, cold: null}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ModelError) as info:
        parse_model(textwrap.dedent(text), "model.yaml")
    return info.value.lines()


def test_example_model_is_valid(example_model_path):
    model = load_model(example_model_path)
    assert model.model == "b2b-saas"
    assert len(model.fit.rules) >= 10
    assert model.engagement.inactivity
    assert {"behavioural", "intent", "negative"} <= set(model.engagement.categories)
    student = next(r for r in model.fit.rules if r.name == "student")
    assert isinstance(student.condition, AnyOf)


def test_conditions_are_parsed_and_normalized():
    model = parse_model(BASE.replace("{gte: 200}", "{in: [' Big ', 200]}"))
    assert model.fit.rules[0].condition == Test("employees", "in", ("200", "big"))


def test_points_not_a_number_names_line_and_field():
    lines = errors_of(BASE.replace("points: 5", "points: ten"))
    assert lines == ["model.yaml line 15: engagement.rules[0].points: expected a number, got 'ten'"]


def test_every_problem_is_listed():
    text = BASE.replace("points: 5", "points: ten").replace("points: 10", "points: [1]")
    text = text.replace("event: page_view", "evnt: page_view")
    lines = errors_of(text)
    assert len(lines) == 4, lines
    assert any("fit.rules[0].points: expected a number" in line for line in lines)
    assert any("engagement.rules[0].event: required, but missing" in line for line in lines)
    assert any("engagement.rules[0].evnt: unknown field" in line for line in lines)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("name: pricing", "name: big"),
            "line 12: engagement.rules[0].name: rule name 'big' is already used at fit.rules[0]",
        ),
        (
            ("{A: 10, B: 0}", "{A: 0, B: 10}"),
            "line 7: fit.grades.B: grades must be listed best first",
        ),
        (
            ("{hot: 10, cold: null}", "{cold: null, hot: 10}"),
            "thresholds.labels.cold: null catches every score",
        ),
        (
            ("min_grade: A", "min_grade: Z"),
            "thresholds.mql.min_grade: unknown grade 'Z'; expected one of A, B, F",
        ),
        (("{max: 50}", "{max: -5}"), "engagement.categories.intent.max: a cap must include 0"),
        (
            ("{contains: /pricing}", "{in: vips}"),
            "engagement.rules[0].if.url.in: unknown list 'vips'",
        ),
        (
            ("{gte: 200}", "{gte: lots}"),
            "fit.rules[0].if.employees.gte: expected a number, got 'lots'",
        ),
        (("{gte: 200}", "{between: [9, 1]}"), "low must not exceed high"),
        (("{gte: 200}", "{like: 200}"), "fit.rules[0].if.employees.like: unknown test 'like'"),
        (("{gte: 200}", "{matches: '(?<=x)y'}"), "look-around"),
        (("{gte: 200}", "{matches: '(unclosed'}"), "not a valid RE2 pattern: missing ): (unclosed"),
        (("model: m", "model: m\nscore_range: [5, 10]"), "score_range: the range must contain 0"),
        (("model: m", "model: m\nmodel: n"), "duplicate key 'model' (first at line 1)"),
        (("points: 10", "points: 10\n      first_only: true"), "unknown field"),
    ],
)
def test_mistakes_are_reported(change, expected):
    old, new = change
    assert old in BASE
    lines = errors_of(BASE.replace(old, new, 1))
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("model.yaml") for line in lines)


def test_first_only_and_max_total_conflict():
    text = BASE.replace(
        "category: intent", "category: intent\n      first_only: true\n      max_total: 3"
    )
    assert any("first_only" in line for line in errors_of(text))


def test_yaml_syntax_error_has_a_line():
    lines = errors_of("model: m\nfit:\n  rules: [\n")
    assert lines[0].startswith("model.yaml line ")
    assert "invalid YAML" in lines[0]


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="file not found"):
        load_model(tmp_path / "nope.yaml")


def test_rule_overrides_and_explicit_nulls():
    model = parse_model(
        textwrap.dedent(
            """\
            model: m
            engagement:
              half_life_days: 30
              window_days: 90
              rules:
                - {name: a, event: x, points: 1}
                - {name: b, event: x, points: 1, half_life_days: 7, window_days: null}
                - {name: c, event: x, points: 1, decay: false}
            """
        )
    )
    a, b, c = model.engagement.rules
    e = model.engagement
    assert (e.half_life(a), e.window(a)) == (30, 90)
    assert (e.half_life(b), e.window(b)) == (7, None)
    assert (e.half_life(c), e.window(c)) == (None, 90)
