"""The reference scorer: one lead at a time, in plain Python, straight from SPEC 1.

It is written independently of the Ibis compiler and as simply as the semantics
allow, so that it can serve as the oracle in tests; the service scores leads
online with it. Times are epoch seconds (see leadscore.timeutil).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadscore import patterns
from leadscore.model.conditions import AllOf, AnyOf, Condition, Test
from leadscore.model.schema import (
    EventRule,
    LogisticCalibration,
    ScoringModel,
)
from leadscore.timeutil import MAX_LOG_ODDS, MIN_EXPONENT, SECONDS_PER_DAY, to_epoch
from leadscore.values import is_missing, normalize_text, parse_number, text_form


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


def holds(cond: Condition | None, row: Mapping[str, Any], missing: frozenset[str]) -> bool:
    """Whether a condition holds for a lead's attributes or an event's properties."""
    if cond is None:
        return True
    if isinstance(cond, AllOf):
        return all(holds(c, row, missing) for c in cond.items)
    if isinstance(cond, AnyOf):
        return any(holds(c, row, missing) for c in cond.items)
    return _test(cond, text_form(row.get(cond.column)), missing)


def _test(test: Test, text: str | None, missing: frozenset[str]) -> bool:
    if is_missing(text, missing):
        return test.op == "missing" and test.value is True
    assert text is not None
    op, value = test.op, test.value
    if op == "missing":
        return value is False
    if op == "matches":
        return patterns.search(value, text)
    norm = normalize_text(text)
    if op == "equals":
        return norm == value
    if op == "not_equals":
        return norm != value
    if op == "in":
        return norm in value
    if op == "not_in":
        return norm not in value
    if op == "contains":
        return value in norm
    number = parse_number(text)
    if number is None:
        return False
    if op == "between":
        return value[0] <= number <= value[1]
    return {
        "gt": number > value,
        "gte": number >= value,
        "lt": number < value,
        "lte": number <= value,
    }[op]


def rule_points(model: ScoringModel, rule: EventRule, events: list[dict], as_of: float) -> float:
    """Step 1-3 of the semantics for one engagement rule."""
    window = model.engagement.window(rule)
    half_life = model.engagement.half_life(rule)
    matching = []
    for order, event in enumerate(events):
        t = event["_t"]
        if event.get("event") != rule.event or t > as_of:
            continue
        if window is not None and not t > as_of - window * SECONDS_PER_DAY:
            continue
        if not holds(rule.condition, event, model.missing_set):
            continue
        matching.append((t, text_form(event.get("event_id")) or "", order))
    matching.sort()
    kept = matching
    if rule.max_per_day is not None:
        per_day: dict[int, int] = {}
        kept = []
        for item in matching:
            day = math.floor(item[0] / SECONDS_PER_DAY)
            per_day[day] = per_day.get(day, 0) + 1
            if per_day[day] <= rule.max_per_day:
                kept.append(item)
    if rule.total_limit is not None:
        kept = kept[: rule.total_limit]
    total = 0.0
    for t, _, _ in kept:
        if half_life is None:
            total += rule.points
        else:
            total += rule.points * decay_factor(as_of - t, half_life)
    return total


def decay_factor(age_seconds: float, half_life_days: float) -> float:
    """2^(-age / half-life); 0 beyond a thousand half-lives, as every engine computes it."""
    exponent = -(age_seconds / SECONDS_PER_DAY) / half_life_days
    return 0.0 if exponent < MIN_EXPONENT else 2.0**exponent


def score_lead(
    model: ScoringModel,
    lead: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]] = (),
    *,
    as_of: object,
) -> LeadScore:
    """Score one lead as of a time (epoch seconds, datetime or ISO text).

    `events` are dicts with `event`, `timestamp` and optional `event_id` and properties.
    """
    now = to_epoch(as_of)
    evs = [{**e, "_t": to_epoch(e["timestamp"])} for e in events]
    missing = model.missing_set

    fit_parts = {
        r.name: float(r.points) for r in model.fit.rules if holds(r.condition, lead, missing)
    }
    fit_score = sum(fit_parts.values())

    # Engagement contributions, grouped by category for the caps.
    by_category: dict[str | None, dict[str, float]] = {}
    for rule in model.engagement.rules:
        by_category.setdefault(rule.category, {})[rule.name] = rule_points(model, rule, evs, now)
    past = [e["_t"] for e in evs if e["_t"] <= now]
    latest = max(past) if past else None
    for rule in model.engagement.inactivity:
        inactive = latest is None or now - latest > rule.after_days * SECONDS_PER_DAY
        by_category.setdefault(rule.category, {})[rule.name] = (
            float(rule.points) if inactive else 0.0
        )

    engagement_parts: dict[str, float] = {}
    engagement_score = 0.0
    for category, parts in by_category.items():
        raw = sum(parts.values())
        cap = model.engagement.categories.get(category) if category is not None else None
        clipped = raw
        if cap is not None:
            if cap.min is not None:
                clipped = max(clipped, cap.min)
            if cap.max is not None:
                clipped = min(clipped, cap.max)
        scale = clipped / raw if raw != 0 else 1.0
        engagement_score += clipped
        engagement_parts.update({name: value * scale for name, value in parts.items()})

    raw_total = fit_score + engagement_score
    score = raw_total
    if model.score_range is not None:
        score = min(max(score, model.score_range[0]), model.score_range[1])
    total_scale = score / raw_total if raw_total != 0 else 1.0

    reasons = [
        Reason(name, value * total_scale)
        for name, value in {**fit_parts, **engagement_parts}.items()
        if value * total_scale != 0
    ]
    # Magnitude in micro-points, as the engines compare it, then the rule's name.
    reasons.sort(key=lambda r: (-min(math.floor(abs(r.points) * 1e6 + 0.5), 10**15), r.rule))

    grade = _grade(model, fit_score)
    return LeadScore(
        score=score,
        fit_score=fit_score,
        engagement_score=engagement_score,
        grade=grade,
        label=_label(model, score),
        mql=_mql(model, score, grade),
        probability=probability(model, score),
        reasons=tuple(reasons),
    )


def _grade(model: ScoringModel, fit_score: float) -> str | None:
    if not model.fit.grades:
        return None
    for name, minimum in model.fit.grades.items():
        if fit_score >= minimum:
            return name
    return model.grade_names[-1]


def _label(model: ScoringModel, score: float) -> str | None:
    for name, minimum in model.thresholds.labels.items():
        if minimum is None or score >= minimum:
            return name
    return None


def _mql(model: ScoringModel, score: float, grade: str | None) -> bool:
    mql = model.thresholds.mql
    if mql is None or score < mql.score:
        return False
    if mql.min_grade is None:
        return True
    order = model.grade_names
    return grade is not None and order.index(grade) <= order.index(mql.min_grade)


def probability(model: ScoringModel, score: float) -> float | None:
    """The calibration applied to a score; None without one."""
    cal = model.calibration
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


@dataclass(frozen=True)
class AccountScore:
    account: str
    score: float
    leads: int
    mql_leads: int


def account_scores(
    model: ScoringModel,
    leads: Iterable[Mapping[str, Any]],
    scores: Mapping[Any, LeadScore],
    id_column: str | None = None,
) -> list[AccountScore]:
    """SPEC `accounts`: leads grouped by their normalized key; sum, max or top-k mean."""
    accounts = model.accounts
    assert accounts is not None
    id_column = id_column or model.id
    excluded = set(accounts.excluded)
    members: dict[str, list[LeadScore]] = {}
    for lead in leads:
        text = text_form(lead.get(accounts.key))
        if is_missing(text, model.missing_set):
            continue
        assert text is not None
        key = normalize_text(text)
        if key not in excluded:
            members.setdefault(key, []).append(scores[lead[id_column]])
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
