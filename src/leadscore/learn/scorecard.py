"""The scorecard: weights of evidence, a logistic regression, integer points.

Each used attribute gets points per bin: round(PDO / ln 2 * coefficient * WoE), so
that PDO points double the odds of converting and 0 is an average lead. Event types
get points per event, up to a cap, from the coefficient of their capped count.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

from leadscore.features import Feature
from leadscore.learn.analysis import AttributeStats, analyse, woe_column
from leadscore.learn.binning import Bin, Binned, assign, bin_feature

PDO = 20  # points that double the odds
MIN_IV = 0.02  # below this an attribute is "not useful" and gets no rules
EVENT_POINTS_STEP = 0.1
# A WoE column's weight below which its attribute adds nothing beside the others.
MIN_COEFFICIENT = 0.05


@dataclass
class AttributeTerm:
    stats: AttributeStats
    coefficient: float
    points: np.ndarray  # per bin

    @property
    def bins(self) -> list[Bin]:
        return self.stats.binned.bins


@dataclass
class EventTerm:
    stats: AttributeStats
    cap: int  # events that count at most
    coefficient: float
    points: float  # per event

    @property
    def event(self) -> str:
        assert self.stats.binned.feature.event is not None
        return self.stats.binned.feature.event


@dataclass
class Scorecard:
    analysis: list[AttributeStats]
    attributes: list[AttributeTerm]
    events: list[EventTerm]
    left_out: dict[str, str] = field(default_factory=dict)  # attribute -> why it has no rules

    def fit_scores(self, features: list[Feature]) -> np.ndarray:
        by_name = {f.name: f for f in features}
        total = np.zeros(len(features[0].values))
        for term in self.attributes:
            index = assign(term.bins, by_name[term.stats.name].values)
            total += np.append(term.points, 0.0)[index]
        return total

    def event_scores(self, features: list[Feature]) -> np.ndarray:
        by_name = {f.name: f for f in features}
        total = np.zeros(len(features[0].values))
        for term in self.events:
            total += np.minimum(by_name[term.stats.name].values, term.cap) * term.points
        return total

    def scores(self, features: list[Feature]) -> np.ndarray:
        return self.fit_scores(features) + self.event_scores(features)


def fit_scorecard(features: list[Feature], y: np.ndarray) -> Scorecard:
    analysis = [analyse(bin_feature(f, y), y) for f in features]
    left_out: dict[str, str] = {}
    candidates = []
    for stats in analysis:
        if stats.iv < MIN_IV:
            left_out[stats.name] = f"information value {stats.iv:.3f} is below {MIN_IV}"
        else:
            candidates.append(stats)
    caps = {s.name: _event_cap(s.binned) for s in candidates if s.binned.feature.kind == "count"}
    while True:
        columns = [
            np.minimum(s.binned.feature.values, caps[s.name]) if s.name in caps else woe_column(s)
            for s in candidates
        ]
        if not columns:
            return Scorecard(analysis, [], [], left_out)
        model = _logistic(np.column_stack(columns), y)
        coefs = model.coef_[0]
        # An attribute whose weight is near 0 beside the others repeats what they say: leave
        # it out and fit again. A clearly negative weight is kept: the attribute corrects a
        # correlated one (visits against time on site), and dropping it costs accuracy.
        weak = [
            i
            for i, s in enumerate(candidates)
            if s.name not in caps and abs(coefs[i]) < MIN_COEFFICIENT
        ]
        if not weak:
            break
        worst = min(weak, key=lambda i: abs(coefs[i]))
        left_out[candidates[worst].name] = (
            f"adds nothing beside the other attributes (weight {coefs[worst]:+.3f})"
        )
        del candidates[worst]
    factor = PDO / math.log(2)
    attributes, events = [], []
    for stats, coef in zip(candidates, coefs, strict=True):
        if stats.name in caps:
            points = round(factor * coef / EVENT_POINTS_STEP) * EVENT_POINTS_STEP
            if points:
                events.append(EventTerm(stats, caps[stats.name], float(coef), round(points, 1)))
            else:
                left_out[stats.name] = "worth less than 0.05 points per event"
        else:
            attributes.append(
                AttributeTerm(stats, float(coef), np.round(factor * coef * stats.woe))
            )
    return Scorecard(analysis, attributes, events, left_out)


def _event_cap(binned: Binned) -> int:
    """Events beyond the start of the top bin add nothing more: count up to there."""
    starts = [b.low for b in binned.bins if b.kind == "range" and b.low is not None]
    return max(1, math.ceil(max(starts))) if starts else 1


def _logistic(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
