"""`leadscore learn`: from leads with an outcome to a model file people can read.

load_dataset (a file or an Arrow table) -> learn: analyse and fit the scorecard ->
cross-fitted calibration -> MQL threshold, grades, labels -> (optionally) the predictive
model -> Learned, whose .model() is the parsed model. Files are written only by
learn.report.write_outputs (the command line's thin wrapper).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from leadscore.learn import predictive as predictive_model
from leadscore.learn.data import Dataset
from leadscore.learn.scorecard import Scorecard, fit_scorecard
from leadscore.learn.thresholds import (
    GRADE_SHARES,
    LABEL_SHARES,
    TradeOff,
    candidate_thresholds,
    capacity_threshold,
    cross_fitted,
    minimums,
    recall_threshold,
    trade_off,
)
from leadscore.logistic import Logistic, fit_logistic
from leadscore.model.schema import ScoringModel

Step = Callable[[str], None]


@dataclass(frozen=True)
class Objective:
    kind: Literal["recall", "capacity"]
    value: float

    def describe(self) -> str:
        if self.kind == "recall":
            return f"the highest score that still captures {self.value:.0%} of conversions"
        return f"sales capacity: the top {self.value:.0%} of leads"


@dataclass
class Learned:
    data: Dataset
    card: Scorecard
    scores: np.ndarray  # in-sample, on the learned model
    fit_scores: np.ndarray
    held_out_scores: np.ndarray  # cross-fitted
    calibration: Logistic
    objective: Objective
    mql: float
    trade_off: list[TradeOff]
    grades: dict[str, float]
    labels: dict[str, float]
    predictive: predictive_model.Trained | None = None

    def model_text(self, name: str, *, source: str | None = None) -> str:
        """The commented YAML of the learned model; a predictive part is named
        `<name>.lgb.txt` (write it with learn.predictive.save)."""
        from leadscore.learn.model_file import model_yaml

        return model_yaml(
            self,
            name=name,
            source=source or self.data.source,
            predictive_file=f"{name}.lgb.txt" if self.predictive is not None else None,
        )

    def model(self, name: str = "learned") -> ScoringModel:
        """The learned model, parsed: what scoring, review and the service take."""
        from leadscore.model import parse_model

        return parse_model(self.model_text(name), f"{name}.yaml")


def learn(
    data: Dataset, objective: Objective, *, predictive: bool = False, step: Step | None = None
) -> Learned:
    say = step or (lambda _: None)
    say("binning attributes and fitting the scorecard")
    card = fit_scorecard(data.features, data.y)
    if not card.attributes and not card.events:
        from leadscore.errors import DataError

        weakest = ", ".join(f"{k} ({v})" for k, v in list(card.left_out.items())[:4])
        raise DataError(
            data.source,
            f"no attribute goes with {data.target!r} strongly enough to score: {weakest}",
        )
    scores = card.scores(data.features)
    say("calibrating on held-out leads (5-fold cross-fitting)")
    held_out = cross_fitted(fit_scorecard, data.features, data.y)
    calibration = fit_logistic(held_out, data.y)
    if objective.kind == "recall":
        mql = recall_threshold(scores, data.y, objective.value)
    else:
        mql = capacity_threshold(scores, objective.value)
    fit_scores = card.fit_scores(data.features)
    trained = None
    if predictive:
        say("training the predictive model (LightGBM, 5-fold early stopping)")
        trained = predictive_model.train(data.features, data.y)
    return Learned(
        data=data,
        card=card,
        scores=scores,
        fit_scores=fit_scores,
        held_out_scores=held_out,
        calibration=calibration,
        objective=objective,
        mql=mql,
        trade_off=trade_off(scores, data.y, candidate_thresholds(scores, mql)),
        grades=minimums(fit_scores, GRADE_SHARES),
        labels=minimums(scores, LABEL_SHARES),
        predictive=trained,
    )
