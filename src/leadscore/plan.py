"""The scoring plan: every decision that the scorers share, made once from a model.

A model file says things with defaults and shorthands (a rule inherits the model's
half-life unless it sets its own, `first_only` is a total limit of one, the MQL's
`min_grade` means "this grade or better"). The plan resolves them into plain terms,
so that the Ibis compiler (batch on every engine), the one-lead scorer (online),
review and `validate` read the same answers instead of each working them out:

    model -> plan -> { Ibis compiler -> DuckDB, Spark, PostgreSQL ; one-lead scorer }

It also holds the few semantic functions whose Python form every reader needs: the
grade of a fit score, the label and MQL of a score, the calibrated probability, and
the order of the reasons. The text form of a value is leadscore.values.text_form
(written for Ibis in engines.canonical and for Arrow in columns, tested to agree).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from leadscore.errors import UsageError
from leadscore.model.conditions import ALL_OPS, Condition, columns_of, tests_of
from leadscore.model.schema import (
    Calibration,
    LogisticCalibration,
    PointsCalibration,
    ScoringModel,
)
from leadscore.timeutil import MAX_LOG_ODDS

# Reasons are ordered by magnitude at this resolution (points), then by rule name:
# float noise below a micro-point must not reorder reasons between engines.
REASON_RESOLUTION = 1e6
REASON_KEY_MAX = 10**15  # magnitudes beyond 1e9 points share the first place


@dataclass(frozen=True)
class FitTerm:
    """A fit rule: its points when its condition holds for the lead's attributes."""

    name: str
    condition: Condition | None
    points: float


@dataclass(frozen=True)
class EventTerm:
    """An engagement rule with its effective window, half-life and limits (days)."""

    index: int  # position among the engagement rules (the compiler's column)
    name: str
    event: str
    condition: Condition | None
    points: float
    window_days: float | None  # None: all history
    half_life_days: float | None  # None: no decay
    max_per_day: int | None
    total_limit: int | None  # max_total, or 1 for first_only
    category: str | None

    @property
    def limited(self) -> bool:
        return self.max_per_day is not None or self.total_limit is not None


@dataclass(frozen=True)
class InactivityTerm:
    """Points when the lead's latest event is older than `after_days` (or it has none)."""

    name: str
    after_days: float
    points: float
    category: str | None


@dataclass(frozen=True)
class CategoryPlan:
    """Engagement rules that share a category, and its cap (None: that side is open)."""

    name: str | None  # None: the rules without a category (never capped)
    members: tuple[str, ...]
    low: float | None
    high: float | None

    @property
    def capped(self) -> bool:
        return self.low is not None or self.high is not None


@dataclass(frozen=True)
class ScoringPlan:
    model: ScoringModel
    id_column: str
    fit: tuple[FitTerm, ...]
    events: tuple[EventTerm, ...]
    inactivity: tuple[InactivityTerm, ...]
    # In the order their first rule appears (engagement rules, then inactivity).
    categories: tuple[CategoryPlan, ...]
    score_range: tuple[float, float] | None
    grades: tuple[tuple[str, float], ...]  # best first; a fit score below all is `fallback_grade`
    fallback_grade: str | None  # None: the model has no grades
    labels: tuple[tuple[str, float | None], ...]  # best first; None catches every score
    mql_score: float | None  # None: no lead is MQL
    mql_grades: frozenset[str] | None  # None: any grade
    calibration: Calibration | None
    missing: frozenset[str]  # normalized placeholders, the empty text included
    # The columns each side reads, with the first rule that reads each (for errors).
    lead_columns: dict[str, str]
    event_columns: dict[str, str]

    @property
    def rule_names(self) -> tuple[str, ...]:
        """Every rule, fit then engagement then inactivity: the columns of contributions."""
        return (
            *(t.name for t in self.fit),
            *(t.name for t in self.events),
            *(t.name for t in self.inactivity),
        )

    @property
    def has_engagement(self) -> bool:
        return bool(self.events or self.inactivity)

    @property
    def event_needs(self) -> dict[str, float | None]:
        """The events a score as of T reads, by event type: those after T minus the days
        given, or every one (None). Types not listed are never read; inactivity reads only
        the latest event's time. The service loads no more than this per lead."""
        needs: dict[str, float | None] = {}
        for t in self.events:
            if t.event in needs and needs[t.event] is None:
                continue
            if t.window_days is None:
                needs[t.event] = None
            else:
                needs[t.event] = max(needs.get(t.event) or 0.0, t.window_days)
        spec = self.model.predictive
        for f in spec.features if spec is not None else ():
            if f.type == "count":
                needs[f.event] = None  # the predictive part counts every event of its type
        return needs

    @property
    def grade_names(self) -> tuple[str, ...]:
        """Grades best first, the fallback last (empty without grades)."""
        if self.fallback_grade is None:
            return ()
        return (*(name for name, _ in self.grades), self.fallback_grade)

    def grade_of(self, fit_score: float) -> str | None:
        if self.fallback_grade is None:
            return None
        return next((name for name, low in self.grades if fit_score >= low), self.fallback_grade)

    def label_of(self, score: float) -> str | None:
        return next((name for name, low in self.labels if low is None or score >= low), None)

    def is_mql(self, score: float, grade: str | None) -> bool:
        if self.mql_score is None or score < self.mql_score:
            return False
        return self.mql_grades is None or grade in self.mql_grades

    def probability(self, score: float) -> float | None:
        """The calibration applied to a score; None without one."""
        cal = self.calibration
        if cal is None:
            return None
        if isinstance(cal, LogisticCalibration):
            log_odds = min(max(cal.slope * score + cal.intercept, -MAX_LOG_ODDS), MAX_LOG_ODDS)
            return 1.0 / (1.0 + math.exp(-log_odds))
        points = cal.points
        if score <= points[0][0]:
            return float(points[0][1])
        for (s0, p0), (s1, p1) in itertools.pairwise(points):
            if score <= s1:
                return p0 + (p1 - p0) * (score - s0) / (s1 - s0)
        return float(points[-1][1])


def reason_key(rule: str, points: float) -> tuple[int, str]:
    """The sort key of a reason: larger magnitude (in micro-points) first, then the name."""
    return (-min(math.floor(abs(points) * REASON_RESOLUTION + 0.5), REASON_KEY_MAX), rule)


def build_plan(model: ScoringModel, id_column: str | None = None) -> ScoringPlan:
    """The plan of a parsed model; a test no scorer knows is refused here, by rule name."""
    _check_terms(model)
    e = model.engagement
    fit = tuple(FitTerm(r.name, r.condition, float(r.points)) for r in model.fit.rules)
    events = tuple(
        EventTerm(
            index=i,
            name=r.name,
            event=r.event,
            condition=r.condition,
            points=float(r.points),
            window_days=_days(e.window(r)),
            half_life_days=_days(e.half_life(r)),
            max_per_day=r.max_per_day,
            total_limit=r.total_limit,
            category=r.category,
        )
        for i, r in enumerate(e.rules)
    )
    inactivity = tuple(
        InactivityTerm(r.name, float(r.after_days), float(r.points), r.category)
        for r in e.inactivity
    )
    members: dict[str | None, list[str]] = {}
    for term in (*events, *inactivity):
        members.setdefault(term.category, []).append(term.name)
    categories = []
    for name, names in members.items():
        cap = e.categories.get(name) if name is not None else None
        low = None if cap is None or cap.min is None else float(cap.min)
        high = None if cap is None or cap.max is None else float(cap.max)
        categories.append(CategoryPlan(name, tuple(names), low, high))
    mql = model.thresholds.mql
    grades = tuple((name, float(low)) for name, low in model.fit.grades.items())
    mql_grades = None
    if mql is not None and mql.min_grade is not None:
        order = model.grade_names
        mql_grades = frozenset(order[: order.index(mql.min_grade) + 1])
    rng = model.score_range
    return ScoringPlan(
        model=model,
        id_column=id_column or model.id,
        fit=fit,
        events=events,
        inactivity=inactivity,
        categories=tuple(categories),
        score_range=None if rng is None else (float(rng[0]), float(rng[1])),
        grades=grades,
        fallback_grade=model.grade_names[-1] if grades else None,
        labels=tuple(
            (name, None if low is None else float(low))
            for name, low in model.thresholds.labels.items()
        ),
        mql_score=None if mql is None else float(mql.score),
        mql_grades=mql_grades,
        calibration=model.calibration,
        missing=model.missing_set,
        lead_columns=_lead_columns(model),
        event_columns=_event_columns(model),
    )


def as_plan(model: ScoringModel | ScoringPlan, id_column: str | None = None) -> ScoringPlan:
    """The plan itself, or the plan of a model (for callers that hold either)."""
    if isinstance(model, ScoringPlan) and (id_column is None or id_column == model.id_column):
        return model
    return build_plan(model.model if isinstance(model, ScoringPlan) else model, id_column)


def _days(value: float | None) -> float | None:
    return None if value is None else float(value)


def _check_terms(model: ScoringModel) -> None:
    """Every test's operator and every calibration's kind is one the scorers implement.

    The loader only builds such models; a model built in code may not have been loaded.
    """
    rules = [*model.fit.rules, *model.engagement.rules]
    for rule in rules:
        for test in tests_of(rule.condition):
            if test.op not in ALL_OPS:
                raise UsageError(
                    f"rule {rule.name!r}: unknown test {test.op!r} on {test.column!r}; "
                    f"the tests are {', '.join(ALL_OPS)}"
                )
    cal = model.calibration
    if cal is not None and not isinstance(cal, LogisticCalibration | PointsCalibration):
        raise UsageError(f"unknown calibration {type(cal).__name__!r}")


def _lead_columns(model: ScoringModel) -> dict[str, str]:
    lead: dict[str, str] = {}
    for i, rule in enumerate(model.fit.rules):
        for column in sorted(columns_of(rule.condition)):
            lead.setdefault(column, f"fit.rules[{i}] {rule.name!r}")
    if model.accounts is not None:
        lead.setdefault(model.accounts.key, "accounts.key")
    if model.predictive is not None:
        for i, feature in enumerate(model.predictive.features):
            if feature.column is not None:
                lead.setdefault(feature.column, f"predictive.features[{i}]")
    return lead


def _event_columns(model: ScoringModel) -> dict[str, str]:
    event: dict[str, str] = {}
    for i, rule in enumerate(model.engagement.rules):
        for column in sorted(columns_of(rule.condition)):
            event.setdefault(column, f"engagement.rules[{i}] {rule.name!r}")
    return event


__all__ = [
    "CategoryPlan",
    "EventTerm",
    "FitTerm",
    "InactivityTerm",
    "ScoringPlan",
    "as_plan",
    "build_plan",
    "reason_key",
]
