"""The predictive component: LightGBM on the scorecard's features, calibrated.

Trained with 5-fold cross-validation to pick the number of trees (early stopping on
log loss); the out-of-fold predictions then fit a logistic calibration of the raw
output, so that the probability is not fitted on the leads it was trained on. The
per-lead factors are LightGBM's own TreeSHAP contributions (`pred_contrib`).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from leadscore.errors import DataError, shown
from leadscore.learn.data import Feature
from leadscore.learn.thresholds import FOLDS
from leadscore.logistic import Logistic, fit_logistic

PARAMS = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "verbosity": -1,
    "num_threads": 0,
    "seed": 0,
}
MAX_ROUNDS = 3000


@dataclass
class Trained:
    booster: lgb.Booster
    features: list[Feature]
    calibration: Logistic
    rounds: int


def frame(features: list[Feature], categories: dict[str, list[str]]) -> pd.DataFrame:
    """The model's input: numbers as floats, text as categories known at training."""
    columns = {}
    for i, f in enumerate(features):
        if f.kind == "categorical":
            columns[f"f{i}"] = pd.Categorical(f.values, categories=categories[f.name])
        else:
            columns[f"f{i}"] = f.values.astype(float)
    return pd.DataFrame(columns)


def train(features: list[Feature], y: np.ndarray, seed: int = 0) -> Trained:
    categories = {
        f.name: sorted({v for v in f.values if v is not None})
        for f in features
        if f.kind == "categorical"
    }
    data = frame(features, categories)
    params = {**PARAMS, "seed": seed}
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(data, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lgb.cv(
            params,
            lgb.Dataset(data, y, free_raw_data=False),
            num_boost_round=MAX_ROUNDS,
            folds=folds,
            callbacks=[lgb.early_stopping(100, verbose=False)],
            return_cvbooster=True,
        )
    cv = result["cvbooster"]
    rounds = int(cv.best_iteration)
    oof = np.zeros(y.size)
    for booster, (_, test) in zip(cv.boosters, folds, strict=True):
        oof[test] = booster.predict(data.iloc[test], num_iteration=rounds, raw_score=True)
    calibration = fit_logistic(oof, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster = lgb.train(params, lgb.Dataset(data, y), num_boost_round=rounds)
    return Trained(booster, features, calibration, rounds)


def save(trained: Trained, path: Path) -> None:
    """LightGBM's text format; it keeps the categories of each text feature."""
    trained.booster.save_model(str(path))


@dataclass(frozen=True)
class Prediction:
    probability: np.ndarray
    factors: list[str]  # JSON per lead: [{"feature", "value", "contribution"}], largest first


class _QuietLogger:
    """LightGBM prints its errors (`[LightGBM] [Fatal] ...`) before raising them; the
    exception says the same, and the user sees it once, as leadscore's message."""

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass


def _load(model_file: Path) -> lgb.Booster:
    lgb.register_logger(_QuietLogger())
    try:
        return lgb.Booster(model_file=str(model_file))
    except lgb.basic.LightGBMError as exc:
        raise DataError(
            str(model_file), f"cannot read the LightGBM model ({shown(str(exc), 120)[1:-1]})"
        ) from None


def predict(
    model_file: Path,
    features: list[Feature],
    calibration: Logistic,
    top: int = 3,
) -> Prediction:
    booster = _load(model_file)
    categories = dict(
        zip(
            [f.name for f in features if f.kind == "categorical"],
            booster.pandas_categorical or [],
            strict=False,
        )
    )
    data = frame(features, categories)
    raw = booster.predict(data, raw_score=True)
    contrib = booster.predict(data, pred_contrib=True)[:, :-1]  # the last column is the bias
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
    factors = []
    for row in range(len(data)):
        items = []
        for j in order[row]:
            value = contrib[row, j]
            if value == 0:
                continue
            shown = features[j].values[row]
            if isinstance(shown, float) and np.isnan(shown):
                shown = None
            items.append(
                {
                    "feature": features[j].name,
                    "value": shown if not isinstance(shown, np.generic) else shown.item(),
                    "contribution": round(float(value), 6),
                }
            )
        factors.append(json.dumps(items))
    return Prediction(calibration(raw), factors)
