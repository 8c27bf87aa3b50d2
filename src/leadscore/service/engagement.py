"""What a lead's engagement rules still need of its events, kept on the lead, so that
an event costs the rules of its type and not a reread of the lead's history.

Per engagement rule, the state keeps the times of the matching events that can still
count at some later time, and nothing else (event ids only break ties between equal
times, and the points depend on the times alone):
- a rule with a window keeps the times inside the window as of the state's time (older
  ones never count again: times only move forward);
- a rule without a window keeps, per day, the first `max_per_day` times, then the first
  `total_limit` of those: a later event can only push a kept one out, never bring back
  one that was dropped, so this is exact for any event that arrives later, late or not;
- a rule without a window or limits folds the events up to the state's time into one
  number, a count, or with decay the sum of 2^(-age/half-life) as of the state's time
  (the same sum the batch engine makes, in another order: equal to about 1e-15).
Events dated after the state's time stay as times until time reaches them. The
predictive part's event counts are kept the same way.

A state belongs to one model version: another version (an activation) rebuilds it from
the stored events the first time the lead is touched, as does a state that is missing or
later than the time asked (a clock set back).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadscore.one_lead import (
    EventTerm,
    LeadScorer,
    counts_at,
    decay_factor,
    first_per_day,
    kept_points,
)
from leadscore.timeutil import SECONDS_PER_DAY

FORMAT = 1  # the layout below; a state of another layout is rebuilt


@dataclass
class RuleState:
    folded: float  # foldable rules: the events up to `at`, counted or decayed as of `at`
    times: list[float]  # sorted: the matching events that can still count


@dataclass
class EngagementState:
    version: str
    at: float
    rules: list[RuleState]  # one per engagement rule, in the plan's order
    counts: dict[str, float]  # predictive counts: events of the type up to `at`
    pending: dict[str, list[float]]  # ... and the times of those after `at`

    def parts(self, scorer: LeadScorer, as_of: float, latest: float | None) -> dict[str, float]:
        """Each engagement and inactivity rule's points as of `as_of` (not before `at`)."""
        parts: dict[str, float] = {}
        if not scorer.plan.has_engagement:
            return parts
        for (term, _), rule in zip(scorer.event_rules, self.rules, strict=True):
            folded = rule.folded
            if folded and term.half_life_days is not None:
                folded *= decay_factor(as_of - self.at, term.half_life_days)
            counting = [t for t in rule.times if counts_at(term, t, as_of)]
            parts[term.name] = term.points * folded + kept_points(term, counting, as_of)
        parts.update(scorer.inactivity_parts(as_of, latest))
        return parts

    def event_counts(self, as_of: float) -> dict[str, float]:
        return {
            kind: n + bisect_right(self.pending.get(kind, []), as_of)
            for kind, n in self.counts.items()
        }

    def as_column(self) -> dict[str, Any]:
        """The state as it is kept in the lead's `engagement` column (JSON), by model."""
        return {
            "f": FORMAT,
            "v": self.version,
            "at": self.at,
            "r": [[r.folded, r.times] for r in self.rules],
            "c": self.counts,
            "p": self.pending,
        }


def from_column(column: Mapping[str, Any] | None, model: str) -> EngagementState | None:
    """The state of one model in a lead's `engagement` column (None: none usable)."""
    found = (column or {}).get(model)
    if found is None or found.get("f") != FORMAT:
        return None
    return EngagementState(
        found["v"],
        found["at"],
        [RuleState(folded, times) for folded, times in found["r"]],
        found["c"],
        found["p"],
    )


def usable(state: EngagementState | None, version: str, at: float) -> bool:
    return state is not None and state.version == version and state.at <= at


def build(
    scorer: LeadScorer, version: str, events: Iterable[Mapping[str, Any]], at: float
) -> EngagementState:
    """A lead's state from its stored events (every one that a window as of `at` can
    still count, future ones included)."""
    state = EngagementState(
        version,
        at,
        [RuleState(0.0, []) for _ in scorer.event_rules],
        dict.fromkeys(scorer.counted_events, 0.0),
        {},
    )
    _add(state, scorer, events)
    _settle(state, scorer)
    return state


def add(
    state: EngagementState,
    scorer: LeadScorer,
    events: Iterable[Mapping[str, Any]],
    at: float,
) -> EngagementState:
    """The state moved to `at` (not before its own time) with new events added."""
    _advance(state, scorer, at)
    _add(state, scorer, events)
    _settle(state, scorer)
    return state


def _advance(state: EngagementState, scorer: LeadScorer, at: float) -> None:
    for (term, _), rule in zip(scorer.event_rules, state.rules, strict=True):
        if rule.folded and term.half_life_days is not None:
            rule.folded *= decay_factor(at - state.at, term.half_life_days)
    state.at = at


def _add(state: EngagementState, scorer: LeadScorer, events: Iterable[Mapping[str, Any]]) -> None:
    counted = state.counts
    for row in events:
        kind, t = row.get("event"), row["timestamp"]
        for (term, holds), rule in zip(scorer.event_rules, state.rules, strict=True):
            if term.event == kind and holds(row):
                insort(rule.times, t)
        if kind in counted:
            if t <= state.at:
                counted[kind] += 1.0
            else:
                insort(state.pending.setdefault(kind, []), t)


def _settle(state: EngagementState, scorer: LeadScorer) -> None:
    """Drop what can never count again; fold what folds."""
    at = state.at
    for (term, _), rule in zip(scorer.event_rules, state.rules, strict=True):
        rule.times = _prune(term, rule.times, at)
        if _folds(term):
            cut = bisect_right(rule.times, at)
            if cut:
                if term.half_life_days is None:
                    rule.folded += cut
                else:
                    rule.folded += sum(
                        decay_factor(at - t, term.half_life_days) for t in rule.times[:cut]
                    )
                del rule.times[:cut]
    for kind, times in list(state.pending.items()):
        cut = bisect_right(times, at)
        state.counts[kind] += cut
        del times[:cut]
        if not times:
            del state.pending[kind]


def _folds(term: EventTerm) -> bool:
    return term.window_days is None and not term.limited


def _prune(term: EventTerm, times: list[float], at: float) -> list[float]:
    if term.window_days is not None:
        # Inside a window, an event that leaves it lets a later one of the same day or
        # beyond the total limit count again: every time inside the window is kept.
        return times[bisect_right(times, at - term.window_days * SECONDS_PER_DAY) :]
    if term.max_per_day is not None:
        times = first_per_day(times, term.max_per_day)
    if term.total_limit is not None:
        times = times[: term.total_limit]
    return times
