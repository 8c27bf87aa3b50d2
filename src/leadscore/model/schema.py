"""What a scoring model is: frozen pydantic classes mirroring the YAML contract (SPEC 1).

`ScoringModel.model_validate(data, context={"lists": ...})` parses conditions with the
model's named lists; use `leadscore.model.load_model` to read a file with line numbers.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadscore.errors import format_loc
from leadscore.model.conditions import Condition, ConditionError, parse_condition
from leadscore.values import normalize_text, text_form

# Finite numbers only (allow_inf_nan=False below); points and counts within sane
# bounds, so that sums stay exact in float64 and every engine's integers hold them.
MAX_POINTS = 1_000_000
MAX_DAYS = 36_525  # a hundred years
MAX_COUNT = 1_000_000
Number = StrictInt | StrictFloat
Points = Annotated[Number, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Days = Annotated[Number, Field(gt=0, le=MAX_DAYS)]
PositiveInt = Annotated[StrictInt, Field(gt=0, le=MAX_COUNT)]
Name = Annotated[str, Field(min_length=1)]
Scalar = str | StrictInt | StrictFloat | StrictBool

FALLBACK_GRADE = "F"


class SpecIssue(ValueError):
    """A semantic problem found after parsing, at `loc` below the object that raised it."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        self.loc = loc
        super().__init__(message)


class _Node(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False
    )


def _parse_if(raw: Any, info: ValidationInfo) -> Condition | None:
    if raw is None:
        return None
    lists = (info.context or {}).get("lists", {})
    return parse_condition(raw, lists)


class FitRule(_Node):
    """Points for an attribute condition (explicit, demographic or firmographic data)."""

    name: Name
    condition: Condition = Field(alias="if")
    points: Points

    @field_validator("condition", mode="before")
    @classmethod
    def _condition(cls, raw: Any, info: ValidationInfo) -> Condition | None:
        if raw is None:
            raise ConditionError((), "a fit rule needs a condition")
        return _parse_if(raw, info)


class Fit(_Node):
    rules: list[FitRule] = []
    grades: dict[Name, Number] = {}

    @field_validator("grades")
    @classmethod
    def _grades_best_first(cls, grades: dict[str, float]) -> dict[str, float]:
        if FALLBACK_GRADE in grades:
            raise SpecIssue(
                (FALLBACK_GRADE,),
                f"{FALLBACK_GRADE!r} is the grade below all others and cannot have a minimum",
            )
        _check_descending(grades, "grades")
        return grades


class Cap(_Node):
    """Limits of one category's sum; they must include 0."""

    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _includes_zero(self) -> Cap:
        if self.min is not None and self.min > 0:
            raise SpecIssue(("min",), f"a cap must include 0, got min {self.min}")
        if self.max is not None and self.max < 0:
            raise SpecIssue(("max",), f"a cap must include 0, got max {self.max}")
        return self


class EventRule(_Node):
    """Points per occurrence of an event (behavioural, intent or negative)."""

    name: Name
    event: Name
    condition: Condition | None = Field(default=None, alias="if")
    points: Points
    category: Name | None = None
    max_per_day: PositiveInt | None = None
    max_total: PositiveInt | None = None
    first_only: StrictBool = False
    half_life_days: Days | None = None
    window_days: Days | None = None
    decay: StrictBool = True

    @field_validator("condition", mode="before")
    @classmethod
    def _condition(cls, raw: Any, info: ValidationInfo) -> Condition | None:
        return _parse_if(raw, info)

    @model_validator(mode="after")
    def _one_total_limit(self) -> EventRule:
        if self.first_only and self.max_total is not None:
            raise SpecIssue(
                ("first_only",), "first_only already keeps one event; drop max_total or first_only"
            )
        return self

    @property
    def total_limit(self) -> int | None:
        """How many events count in all: first_only is max_total 1."""
        return 1 if self.first_only else self.max_total


class InactivityRule(_Node):
    """Points (usually negative) when the lead's latest event is older than after_days."""

    name: Name
    after_days: Days
    points: Points
    category: Name | None = None


class Engagement(_Node):
    half_life_days: Days | None = None
    window_days: Days | None = None
    categories: dict[Name, Cap] = {}
    rules: list[EventRule] = []
    inactivity: list[InactivityRule] = []

    def half_life(self, rule: EventRule) -> float | None:
        """The rule's effective half-life in days; None means no decay."""
        if not rule.decay:
            return None
        if "half_life_days" in rule.model_fields_set:
            return rule.half_life_days  # a rule's explicit null turns decay off
        return self.half_life_days

    def window(self, rule: EventRule) -> float | None:
        """The rule's effective window in days; None means all history."""
        if "window_days" in rule.model_fields_set:
            return rule.window_days
        return self.window_days


class Mql(_Node):
    score: Number
    min_grade: Name | None = None


class Thresholds(_Node):
    mql: Mql | None = None
    labels: dict[Name, Number | None] = {}

    @field_validator("labels")
    @classmethod
    def _labels_best_first(cls, labels: dict[str, float | None]) -> dict[str, float | None]:
        for name in list(labels)[:-1]:
            if labels[name] is None:
                raise SpecIssue((name,), "null catches every score, so it must be the last label")
        _check_descending({k: v for k, v in labels.items() if v is not None}, "labels")
        return labels


class LogisticCalibration(_Node):
    """probability = 1 / (1 + exp(-(slope * score + intercept)))."""

    slope: Number
    intercept: Number


class PointsCalibration(_Node):
    """Linear between (score, probability) points, flat beyond the first and last."""

    points: list[tuple[Number, Number]] = Field(min_length=2)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (score, prob) in enumerate(points):
            if not 0 <= prob <= 1:
                raise SpecIssue((i, 1), f"a probability must be within [0, 1], got {prob}")
            if i and score <= points[i - 1][0]:
                raise SpecIssue((i, 0), "scores must be strictly increasing")
        return points


def _calibration_kind(raw: Any) -> str:
    if isinstance(raw, dict):
        return "points" if "points" in raw else "logistic"
    return "points" if isinstance(raw, PointsCalibration) else "logistic"


Calibration = Annotated[
    Annotated[LogisticCalibration, Tag("logistic")] | Annotated[PointsCalibration, Tag("points")],
    Discriminator(_calibration_kind),
]


class Accounts(_Node):
    """Lead scores rolled up per account (the company behind a key such as email_domain)."""

    key: Name
    aggregate: Literal["sum", "max", "top_k_mean"] = "sum"
    k: PositiveInt | None = None
    # Key values that are not accounts (free-mail domains): a list, or a name in `lists`.
    exclude: list[Scalar] | Name = []

    @field_validator("exclude")
    @classmethod
    def _resolve_exclude(cls, raw: list | str, info: ValidationInfo) -> list:
        if isinstance(raw, str):
            lists = (info.context or {}).get("lists", {})
            if raw not in lists:
                raise SpecIssue((), f"unknown list {raw!r} (lists: {', '.join(lists) or 'none'})")
            return list(lists[raw])
        return raw

    @property
    def excluded(self) -> list[str]:
        return sorted({normalize_text(text_form(v) or "") for v in self.exclude})

    @model_validator(mode="after")
    def _k_with_top_k(self) -> Accounts:
        if self.aggregate == "top_k_mean" and self.k is None:
            raise SpecIssue(("k",), "top_k_mean needs k, the number of leads to average")
        if self.aggregate != "top_k_mean" and self.k is not None:
            raise SpecIssue(("k",), f"k is only used with top_k_mean, not {self.aggregate}")
        return self


class PredictiveFeature(_Node):
    """One input of the predictive model: a lead column, or the count of an event type."""

    column: Name | None = None
    event: Name | None = None
    type: Literal["numeric", "categorical", "count"]

    @model_validator(mode="after")
    def _one_source(self) -> PredictiveFeature:
        if (self.type == "count") != (self.event is not None) or (
            self.column is None and self.event is None
        ):
            raise SpecIssue((), "a count feature names an event; other features name a column")
        return self

    @property
    def label(self) -> str:
        return f"{self.event} events" if self.event is not None else str(self.column)


class Predictive(_Node):
    """A gradient-boosting model file beside the YAML; its probability replaces the
    calibration's, and its top per-lead factors are reported beside the reasons."""

    file: Name
    features: list[PredictiveFeature] = Field(min_length=1)
    calibration: LogisticCalibration  # applied to the model's raw output (log-odds)
    factors: PositiveInt = 3


class ScoringModel(_Node):
    """A whole model: parse once, then every engine reads this object."""

    model: Name
    version: StrictInt | Name = 1
    description: str = ""
    id: Name = "lead_id"
    missing_values: list[Scalar] = []
    score_range: tuple[Number, Number] | None = None
    lists: dict[Name, list[Scalar]] = {}
    fit: Fit = Fit()
    engagement: Engagement = Engagement()
    thresholds: Thresholds = Thresholds()
    calibration: Calibration | None = None
    accounts: Accounts | None = None
    predictive: Predictive | None = None

    @field_validator("score_range")
    @classmethod
    def _range_has_zero(cls, rng: tuple[float, float] | None) -> tuple[float, float] | None:
        if rng is not None and not rng[0] <= 0 <= rng[1]:
            raise SpecIssue((), f"the range must contain 0, got [{rng[0]}, {rng[1]}]")
        return rng

    @model_validator(mode="after")
    def _cross_references(self) -> ScoringModel:
        seen: dict[str, tuple[str | int, ...]] = {}
        for loc, name in self._rule_names():
            if name in seen:
                raise SpecIssue(
                    (*loc, "name"),
                    f"rule name {name!r} is already used at {format_loc(seen[name])}; "
                    "names must be unique because reasons use them",
                )
            seen[name] = loc
        mql = self.thresholds.mql
        if mql is not None and mql.min_grade is not None:
            allowed = self.grade_names
            if not self.fit.grades:
                raise SpecIssue(
                    ("thresholds", "mql", "min_grade"),
                    f"{mql.min_grade!r} needs grades, and the model has none (fit.grades)",
                )
            if mql.min_grade not in allowed:
                raise SpecIssue(
                    ("thresholds", "mql", "min_grade"),
                    f"unknown grade {mql.min_grade!r}; expected one of {', '.join(allowed)}",
                )
        return self

    def _rule_names(self) -> list[tuple[tuple[str | int, ...], str]]:
        out: list[tuple[tuple[str | int, ...], str]] = []
        out += [(("fit", "rules", i), r.name) for i, r in enumerate(self.fit.rules)]
        out += [(("engagement", "rules", i), r.name) for i, r in enumerate(self.engagement.rules)]
        out += [
            (("engagement", "inactivity", i), r.name)
            for i, r in enumerate(self.engagement.inactivity)
        ]
        return out

    @property
    def grade_names(self) -> list[str]:
        """Grades best first, the fallback last."""
        return [*self.fit.grades, FALLBACK_GRADE]

    @property
    def missing_set(self) -> frozenset[str]:
        """Normalized placeholders; the empty text is always missing."""
        return frozenset({""} | {normalize_text(text_form(v) or "") for v in self.missing_values})

    @property
    def rule_names(self) -> list[str]:
        return [name for _, name in self._rule_names()]


def _check_descending(minimums: dict[str, float], what: str) -> None:
    names = list(minimums)
    for prev, name in itertools.pairwise(names):
        if minimums[name] >= minimums[prev]:
            raise SpecIssue(
                (name,),
                f"{what} must be listed best first with decreasing minimums: "
                f"{name!r} ({minimums[name]}) follows {prev!r} ({minimums[prev]})",
            )
