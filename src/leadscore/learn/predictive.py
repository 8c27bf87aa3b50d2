"""The predictive component: LightGBM on the scorecard's features, calibrated.

Trained with 5-fold cross-validation to pick the number of trees (early stopping on
log loss); the out-of-fold predictions then fit a logistic calibration of the raw
output, so that the probability is not fitted on the leads it was trained on. The
per-lead factors are LightGBM's own TreeSHAP contributions (`pred_contrib`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.model_selection import StratifiedKFold

from leadscore.booster import frame
from leadscore.features import Feature
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
