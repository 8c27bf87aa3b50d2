"""From scores to decisions: calibration, the MQL threshold, grades and labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from leadscore.features import Feature
from leadscore.learn.binning import fit_sample
from leadscore.volumes import capacity_threshold as capacity_threshold  # learn's objectives

FOLDS = 5
GRADE_SHARES = {"A": 0.10, "B": 0.20, "C": 0.30, "D": 0.20}  # of leads, best first; rest F
LABEL_SHARES = {"hot": 0.10, "warm": 0.30}  # of leads, best first; the rest are cold


def cross_fitted(fit, features: list[Feature], y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each lead's score from a model fitted without it (FOLDS-fold), for honest calibration."""
    out = np.zeros(y.size)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    for train, test in folds.split(np.zeros(y.size), y):
        sample = fit_sample(y[train])  # at scale, each fold learns from a sample
        if sample is not None:
            train = train[sample]
        card = fit([f.take(train) for f in features], y[train])
        out[test] = card.scores([f.take(test) for f in features])
    return out


def recall_threshold(scores: np.ndarray, y: np.ndarray, recall: float) -> float:
    """The highest score such that leads at or above it hold `recall` of the conversions."""
    converted = np.sort(scores[y == 1])[::-1]
    needed = max(1, int(np.ceil(recall * converted.size)))
    return float(converted[needed - 1])


@dataclass(frozen=True)
class TradeOff:
    threshold: float
    share: float  # of leads at or above the threshold
    leads: int
    precision: float
    recall: float


def trade_off(scores: np.ndarray, y: np.ndarray, thresholds: list[float]) -> list[TradeOff]:
    rows = []
    for t in sorted(set(thresholds), reverse=True):
        chosen = scores >= t
        n = int(chosen.sum())
        hits = int(y[chosen].sum())
        rows.append(TradeOff(t, n / y.size, n, hits / n if n else 0.0, hits / max(1, int(y.sum()))))
    return rows


def candidate_thresholds(scores: np.ndarray, chosen: float) -> list[float]:
    """The chosen threshold and the scores that pass each tenth of the leads."""
    tenths = [float(np.quantile(scores, 1 - k / 10, method="higher")) for k in range(1, 10)]
    return [chosen, *tenths]


def minimums(scores: np.ndarray, shares: dict[str, float]) -> dict[str, float]:
    """Minimum scores so that each name (best first) takes about its share of the leads.

    Ties can make two names meet at one score; the lower one is then dropped, since
    minimums must decrease.
    """
    out: dict[str, float] = {}
    taken = 0.0
    for name, share in shares.items():
        taken += share
        cut = float(np.quantile(scores, 1 - taken, method="higher"))
        if not out or cut < min(out.values()):
            out[name] = cut
    return out
