"""The one-lead scorer: a model compiled once, then a lead at a time, in plain Python.

This is how the service scores online, and it runs in the conformance suite as an
engine beside DuckDB, Spark and PostgreSQL (same cases, same numbers). It reads the
model's plan (leadscore.plan), so that it makes no decision of its own, and is
otherwise written from SPEC 1 as simply as the semantics allow: it is also the
oracle that random models are checked against.

Leads and events are plain mappings (a missing key is a missing value); times are
epoch seconds, datetimes or ISO text (leadscore.timeutil). Results come out as a
frozen LeadScore, or as a plain dict with `as_dict()`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leadscore import patterns
from leadscore.errors import UsageError
from leadscore.features import Feature
from leadscore.model.conditions import AllOf, AnyOf, Condition, Test
from leadscore.model.schema import ScoringModel
from leadscore.plan import EventTerm, ScoringPlan, build_plan, reason_key
from leadscore.timeutil import (
    MILLISECONDS_LIKE,
    MIN_EXPONENT,
    SECONDS_PER_DAY,
    TimeError,
    to_epoch,
)
from leadscore.values import is_missing, normalize_text, parse_number, text_form

Row = Mapping[str, Any]
Holds = Callable[[Row], bool]


@dataclass(frozen=True)
class Reason:
    rule: str
    points: float


@dataclass(frozen=True)
class LeadScore:
    score: float
    fit_score: float
    engagement_score: float
    grade: str | None
    label: str | None
    mql: bool
    probability: float | None
    reasons: tuple[Reason, ...]
    # The predictive part's top factors ({"feature", "value", "contribution"}); None
    # when the model has no predictive part.
    factors: tuple[dict[str, Any], ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields `leadscore score` writes, with reasons (and factors) as lists."""
        out: dict[str, Any] = {
            "score": self.score,
            "fit_score": self.fit_score,
            "engagement_score": self.engagement_score,
            "grade": self.grade,
            "label": self.label,
            "mql": self.mql,
            "probability": self.probability,
            "reasons": [{"rule": r.rule, "points": r.points} for r in self.reasons],
        }
        if self.factors is not None:
            out["factors"] = [dict(f) for f in self.factors]
        return out


# -- conditions, compiled once ---------------------------------------------------------


def compile_condition(cond: Condition | None, missing: frozenset[str]) -> Holds:
    """A condition as a function of a lead's attributes or an event's properties."""
    if cond is None:
        return _always
    if isinstance(cond, AllOf):
        parts = [compile_condition(c, missing) for c in cond.items]
        return lambda row: all(p(row) for p in parts)
    if isinstance(cond, AnyOf):
        parts = [compile_condition(c, missing) for c in cond.items]
        return lambda row: any(p(row) for p in parts)
    return _compile_test(cond, missing)


def _always(row: Row) -> bool:
    return True


def _compile_test(test: Test, missing: frozenset[str]) -> Holds:
    column, op, value = test.column, test.op, test.value
    if op == "missing":
        return lambda row: is_missing(text_form(row.get(column)), missing) is bool(value)
    on_text = _on_text(op, value)

    def holds(row: Row) -> bool:
        text = text_form(row.get(column))
        return text is not None and not is_missing(text, missing) and on_text(text)

    return holds


def _on_text(op: str, value: Any) -> Callable[[str], bool]:
    """The test on a present value's text form."""
    if op == "matches":  # on the value as written
        regex = patterns.compile_pattern(value)
        return lambda text: regex.search(text) is not None
    text_tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda norm: norm == value,
        "not_equals": lambda norm: norm != value,
        "in": lambda norm: norm in value,
        "not_in": lambda norm: norm not in value,
        "contains": lambda norm: value in norm,
    }
    if op in text_tests:
        on_norm = text_tests[op]
        return lambda text: on_norm(normalize_text(text))
    number_tests: dict[str, Callable[[float], bool]] = {
        "between": lambda x: value[0] <= x <= value[1],
        "gt": lambda x: x > value,
        "gte": lambda x: x >= value,
        "lt": lambda x: x < value,
        "lte": lambda x: x <= value,
    }
    if op not in number_tests:  # build_plan refuses these first; kept for direct callers
        raise UsageError(f"unknown test {op!r}")
    on_number = number_tests[op]

    def numeric(text: str) -> bool:
        number = parse_number(text)
        return number is not None and on_number(number)

    return numeric


# -- engagement ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    t: float
    event_id: str
    order: int  # position in the input: ties in time and id keep it
    row: Row


def _rule_points(term: EventTerm, holds: Holds, events: Sequence[_Event], as_of: float) -> float:
    """Steps 1-3 of the semantics for one engagement rule (`events`: the lead's events of
    the rule's type)."""
    matching = [ev for ev in events if counts_at(term, ev.t, as_of) and holds(ev.row)]
    matching.sort(key=lambda e: (e.t, e.event_id, e.order))
    return kept_points(term, [ev.t for ev in matching], as_of)


def counts_at(term: EventTerm, t: float, as_of: float) -> bool:
    """Step 1's time test: the event happened by `as_of`, inside the rule's window."""
    if t > as_of:
        return False
    return term.window_days is None or t > as_of - term.window_days * SECONDS_PER_DAY


def kept_points(term: EventTerm, times: Sequence[float], as_of: float) -> float:
    """Steps 2-3: the rule's points for the times of its matching events that count at
    `as_of`, in the order of time then event_id: the limits applied, then decay."""
    kept = times
    if term.max_per_day is not None:
        kept = first_per_day(times, term.max_per_day)
    if term.total_limit is not None:
        kept = kept[: term.total_limit]
    if term.half_life_days is None:
        return term.points * len(kept)
    return sum(term.points * decay_factor(as_of - t, term.half_life_days) for t in kept)


def first_per_day(times: Sequence[float], cap: int) -> list[float]:
    """The first `cap` of each UTC day, of times in order."""
    per_day: dict[int, int] = {}
    kept = []
    for t in times:
        day = math.floor(t / SECONDS_PER_DAY)
        per_day[day] = per_day.get(day, 0) + 1
        if per_day[day] <= cap:
            kept.append(t)
    return kept


def decay_factor(age_seconds: float, half_life_days: float) -> float:
    """2^(-age / half-life); 0 beyond a thousand half-lives, as every engine computes it."""
    exponent = -(age_seconds / SECONDS_PER_DAY) / half_life_days
    return 0.0 if exponent < MIN_EXPONENT else 2.0**exponent


# -- the scorer ------------------------------------------------------------------------


class LeadScorer:
    """A model compiled for scoring leads one at a time.

    Conditions become functions, patterns are compiled and the predictive part's
    booster is loaded once, here; `score` then touches only the lead and its events.
    A model with a predictive part needs its file (model.load.predictive_path).
    """

    def __init__(
        self,
        model: ScoringModel | ScoringPlan,
        *,
        predictive_file: Path | None = None,
    ):
        self.plan = model if isinstance(model, ScoringPlan) else build_plan(model)
        plan = self.plan
        self._fit = [
            (t.name, t.points, compile_condition(t.condition, plan.missing)) for t in plan.fit
        ]
        self._events = [(t, compile_condition(t.condition, plan.missing)) for t in plan.events]
        self._predictor = None
        spec = plan.model.predictive
        if spec is not None:
            if predictive_file is None:
                raise UsageError(
                    f"model {plan.model.model!r} has a predictive component: give its file"
                )
            from leadscore.booster import Predictor
            from leadscore.logistic import Logistic

            cal = Logistic(spec.calibration.slope, spec.calibration.intercept)
            self._predictor = Predictor(predictive_file, cal, top=spec.factors)

    def score(self, lead: Row, events: Iterable[Row] = (), *, as_of: object) -> LeadScore:
        """Score one lead as of a time. `events` are mappings with `event`, `timestamp`,
        optionally `event_id`, and the properties the rules read."""
        return self.score_many([(lead, events)], as_of=as_of)[0]

    def score_many(
        self,
        leads: Iterable[tuple[Row, Iterable[Row]]],
        *,
        as_of: object,
        latest: Sequence[float | None] | None = None,
    ) -> list[LeadScore]:
        """Score (lead, its events) pairs; the predictive part runs once for them all.

        `latest` is each lead's latest event time up to `as_of` (None: it has none), for a
        caller that passes only the events the windows need (`EventNeeds`): inactivity
        then reads it instead of the events given.
        """
        try:
            now = to_epoch(as_of)
        except TimeError as exc:
            raise UsageError(f"as_of: {exc}") from None
        pairs = [(lead, _events(evs)) for lead, evs in leads]
        if latest is None:
            latest = [_latest(evs, now) for _, evs in pairs]
        return self.score_engaged(
            [
                (lead, self.engagement_parts(evs, now, last), self.event_counts(evs, now))
                for (lead, evs), last in zip(pairs, latest, strict=True)
            ],
            now,
        )

    @property
    def counted_events(self) -> tuple[str, ...]:
        """The event types whose counts the predictive part reads."""
        spec = self.plan.model.predictive
        if spec is None:
            return ()
        return tuple(dict.fromkeys(f.event for f in spec.features if f.type == "count"))

    @property
    def event_rules(self) -> list[tuple[EventTerm, Holds]]:
        """The engagement rules with their conditions compiled."""
        return self._events

    def event_counts(self, events: Sequence[_Event], now: float) -> dict[str, float]:
        """Per type that the predictive part counts, the lead's events up to now."""
        return {
            kind: float(sum(1 for ev in events if ev.t <= now and ev.row.get("event") == kind))
            for kind in self.counted_events
        }

    def engagement_parts(
        self, events: Sequence[_Event], now: float, latest: float | None
    ) -> dict[str, float]:
        """Each engagement and inactivity rule's points, before the caps."""
        parts: dict[str, float] = {}
        if not self.plan.has_engagement:
            return parts
        by_type: dict[Any, list[_Event]] = {}
        for ev in events:
            by_type.setdefault(ev.row.get("event"), []).append(ev)
        for term, holds in self._events:
            parts[term.name] = _rule_points(term, holds, by_type.get(term.event, ()), now)
        parts.update(self.inactivity_parts(now, latest))
        return parts

    def inactivity_parts(self, now: float, latest: float | None) -> dict[str, float]:
        out = {}
        for idle in self.plan.inactivity:
            inactive = latest is None or now - latest > idle.after_days * SECONDS_PER_DAY
            out[idle.name] = idle.points if inactive else 0.0
        return out

    def score_engaged(
        self, leads: Sequence[tuple[Row, dict[str, float], dict[str, float]]], now: float
    ) -> list[LeadScore]:
        """Score leads from their attributes, engagement parts (`engagement_parts`) and
        event counts (`event_counts`), however the caller came by them: the service keeps
        them per lead as events arrive instead of rereading every event."""
        scored = [self._score(lead, parts) for lead, parts, _ in leads]
        if self._predictor is None or not leads:
            return scored
        prediction = self._predictor.predict(self._features(leads))
        return [
            _with_prediction(s, float(p), tuple(json.loads(f)))
            for s, p, f in zip(scored, prediction.probability, prediction.factors, strict=True)
        ]

    def _score(self, lead: Row, parts: dict[str, float]) -> LeadScore:
        plan = self.plan
        fit_parts = {name: points for name, points, holds in self._fit if holds(lead)}
        fit_score = sum(fit_parts.values())

        engagement_parts: dict[str, float] = {}
        engagement_score = 0.0
        for category in plan.categories:
            raw = sum(parts.get(name, 0.0) for name in category.members)
            clipped = raw
            if category.low is not None:
                clipped = max(clipped, category.low)
            if category.high is not None:
                clipped = min(clipped, category.high)
            scale = clipped / raw if raw != 0 else 1.0
            engagement_score += clipped
            for name in category.members:
                if name in parts:
                    engagement_parts[name] = parts[name] * scale

        raw_total = fit_score + engagement_score
        score = raw_total
        if plan.score_range is not None:
            score = min(max(score, plan.score_range[0]), plan.score_range[1])
        total_scale = score / raw_total if raw_total != 0 else 1.0

        reasons = [
            Reason(name, value * total_scale)
            for name, value in {**fit_parts, **engagement_parts}.items()
            if value * total_scale != 0
        ]
        reasons.sort(key=lambda r: reason_key(r.rule, r.points))
        grade = plan.grade_of(fit_score)
        return LeadScore(
            score=score,
            fit_score=fit_score,
            engagement_score=engagement_score,
            grade=grade,
            label=plan.label_of(score),
            mql=plan.is_mql(score, grade),
            probability=plan.probability(score),
            reasons=tuple(reasons),
        )

    def _features(
        self, leads: Sequence[tuple[Row, dict[str, float], dict[str, float]]]
    ) -> list[Feature]:
        """The predictive part's inputs, read as the batch engine reads them."""
        spec = self.plan.model.predictive
        assert spec is not None
        missing = self.plan.missing
        features = []
        for f in spec.features:
            if f.type == "count":
                values: list[Any] = [counts.get(f.event, 0.0) for _, _, counts in leads]
                features.append(Feature(f.label, "count", np.asarray(values, dtype=float)))
                continue
            texts = [text_form(lead.get(f.column)) for lead, _, _ in leads]
            present = [None if is_missing(t, missing) else t for t in texts]
            if f.type == "numeric":
                numbers = [np.nan if t is None else parse_number(t) for t in present]
                values = [np.nan if x is None else x for x in numbers]
                features.append(Feature(f.label, "numeric", np.asarray(values, dtype=float)))
            else:
                values = [None if t is None else normalize_text(t) for t in present]
                features.append(Feature(f.label, "categorical", np.asarray(values, dtype=object)))
        return features

    def accounts(self, leads: Iterable[Row], scores: Mapping[Any, LeadScore]) -> list[AccountScore]:
        """SPEC `accounts`: leads grouped by their normalized key; sum, max or top-k mean."""
        return account_scores(self.plan, leads, scores)


def _latest(events: list[_Event], now: float) -> float | None:
    return max((ev.t for ev in events if ev.t <= now), default=None)


def _events(events: Iterable[Row]) -> list[_Event]:
    """The events with their times read; a missing or unreadable time names the event."""
    out = []
    for i, e in enumerate(events):
        when = e.get("timestamp")
        if when is None:
            raise UsageError(f"events[{i}].timestamp: required, but missing")
        if type(when) is float and abs(when) < MILLISECONDS_LIKE:  # epoch seconds (not NaN)
            t = when
        else:
            try:
                t = to_epoch(when)
            except TimeError as exc:
                raise UsageError(f"events[{i}].timestamp: {exc}") from None
        out.append(_Event(t, text_form(e.get("event_id")) or "", i, e))
    return out


def _with_prediction(s: LeadScore, probability: float, factors: tuple) -> LeadScore:
    return LeadScore(
        s.score,
        s.fit_score,
        s.engagement_score,
        s.grade,
        s.label,
        s.mql,
        probability,
        s.reasons,
        factors,
    )


def score_lead(
    model: ScoringModel | ScoringPlan,
    lead: Row,
    events: Iterable[Row] = (),
    *,
    as_of: object,
    predictive_file: Path | None = None,
) -> LeadScore:
    """Score one lead (compiles the model each call: keep a LeadScorer to score many)."""
    return LeadScorer(model, predictive_file=predictive_file).score(lead, events, as_of=as_of)


@dataclass(frozen=True)
class AccountScore:
    account: str
    score: float
    leads: int
    mql_leads: int


def account_scores(
    model: ScoringModel | ScoringPlan,
    leads: Iterable[Row],
    scores: Mapping[Any, LeadScore],
) -> list[AccountScore]:
    """SPEC `accounts`: leads grouped by their normalized key; sum, max or top-k mean."""
    plan = model if isinstance(model, ScoringPlan) else build_plan(model)
    accounts = plan.model.accounts
    assert accounts is not None
    excluded = set(accounts.excluded)
    members: dict[str, list[LeadScore]] = {}
    for lead in leads:
        text = text_form(lead.get(accounts.key))
        if text is None or is_missing(text, plan.missing):
            continue
        key = normalize_text(text)
        if key not in excluded:
            members.setdefault(key, []).append(scores[lead[plan.id_column]])
    out = []
    for key, group in members.items():
        values = sorted((s.score for s in group), reverse=True)
        if accounts.aggregate == "sum":
            value = sum(values)
        elif accounts.aggregate == "max":
            value = values[0]
        else:
            top = values[: accounts.k]
            value = sum(top) / len(top)
        out.append(AccountScore(key, value, len(group), sum(s.mql for s in group)))
    return sorted(out, key=lambda a: (-a.score, a.account))


__all__ = [
    "AccountScore",
    "LeadScore",
    "LeadScorer",
    "Reason",
    "account_scores",
    "compile_condition",
    "decay_factor",
    "score_lead",
]
