"""Score to probability: the logistic curve that `learn` fits and `review` reads points by."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Logistic:
    slope: float
    intercept: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.slope * x + self.intercept)))


def fit_logistic(x: np.ndarray, y: np.ndarray) -> Logistic:
    """probability = 1 / (1 + exp(-(slope * x + intercept))), by maximum likelihood."""
    # Here, not at the top: scoring applies the curve and must not load scikit-learn.
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(x.reshape(-1, 1), y)
    return Logistic(float(lr.coef_[0][0]), float(lr.intercept_[0]))


__all__ = ["Logistic", "fit_logistic"]
