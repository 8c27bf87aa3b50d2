"""How well a model's scores separate the leads that converted from the rest.

Every number is computed on the leads with an outcome. Leads tied on a score are
one group: where a decile boundary falls inside a tie, the tied leads (and their
conversions) are shared between the two deciles in proportion, which is what a
random order of the tied leads gives on average. So the gain curve is the ROC
curve drawn against the share of leads, and the numbers do not depend on the
order of the input rows.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from leadscore.review.data import ModelScores
from leadscore.volumes import volume_threshold

DECILES = 10
CALIBRATION_BINS = 10
CURVE_POINTS = 201  # points of the gain curve in the report (it is smooth at that size)
SHARES = (0.05, 0.10, 0.20, 0.30, 0.40, 0.50)  # candidate MQL volumes, as shares of leads


def ranking(y: np.ndarray, score: np.ndarray) -> dict:
    """ROC AUC, PR AUC and KS of a score (higher = more likely to convert)."""
    fpr, tpr, thresholds = roc_curve(y, score)
    gap = tpr - fpr
    best = int(np.argmax(gap))
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "ks": float(gap[best]),
        "ks_score": _finite(thresholds[best]),
    }


def cumulative(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(leads, conversions) at or above each distinct score, best first, from (0, 0)."""
    order = np.argsort(-score, kind="stable")
    s, hits = score[order], y[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    leads = np.r_[0, ends + 1].astype(float)
    conversions = np.r_[0, np.cumsum(hits)[ends]].astype(float)
    return leads, conversions


def gain(y: np.ndarray, score: np.ndarray) -> dict:
    """Cumulative gain curve, and lift and gain by decile (ties shared in proportion)."""
    n, total = y.size, float(y.sum())
    leads, conversions = cumulative(y, score)
    depth = np.linspace(0, 1, CURVE_POINTS)
    curve = np.interp(depth * n, leads, conversions) / total
    ordered = np.sort(score)[::-1]
    rate = total / n
    deciles = []
    bounds = np.interp(np.arange(DECILES + 1) / DECILES * n, leads, conversions)
    for d in range(DECILES):
        lo, hi = d * n / DECILES, (d + 1) * n / DECILES
        hits = bounds[d + 1] - bounds[d]
        size = hi - lo
        first, last = math.floor(lo), max(math.ceil(hi) - 1, math.floor(lo))
        deciles.append(
            {
                "decile": d + 1,
                "leads": size,
                "converted": float(hits),
                "conversion_rate": float(hits / size) if size else 0.0,
                "lift": float(hits / size / rate) if size else 0.0,
                "cumulative_gain": float(bounds[d + 1] / total),
                "cumulative_lift": float(bounds[d + 1] / total / ((d + 1) / DECILES)),
                "max_score": float(ordered[min(first, n - 1)]),
                "min_score": float(ordered[min(last, n - 1)]),
            }
        )
    return {
        "curve": {
            "share_of_leads": depth.round(4).tolist(),
            "share_of_conversions": curve.tolist(),
        },
        "deciles": deciles,
    }


def score_bands(score: np.ndarray) -> list[tuple[float | None, float | None]]:
    """About ten bands of a round width over the bulk of the scores; the ends are open."""
    lo, hi = np.quantile(score, [0.01, 0.99])
    if hi <= lo:
        return [(None, None)]
    raw = (hi - lo) / 8
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    edges = [start + i * step for i in range(round((stop - start) / step) + 1)]
    inner = edges[1:-1]
    if not inner:
        return [(None, None)]
    bands: list[tuple[float | None, float | None]] = [(None, inner[0])]
    bands += list(itertools.pairwise(inner))
    bands.append((inner[-1], None))
    return bands


def band_name(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return "all"
    if low is None:
        return f"< {high:g}"
    if high is None:
        return f">= {low:g}"
    return f"{low:g} to < {high:g}"


def by_group(y: np.ndarray, masks: list[tuple[str, np.ndarray]], probability: np.ndarray) -> list:
    """Leads, conversions, conversion rate, lift and mean probability of each group."""
    rate = y.mean()
    rows = []
    for name, mask in masks:
        n = int(mask.sum())
        hits = int(y[mask].sum())
        p = probability[mask]
        rows.append(
            {
                "group": name,
                "leads": n,
                "share": n / y.size,
                "converted": hits,
                "conversion_rate": hits / n if n else None,
                "lift": hits / n / rate if n and rate else None,
                "mean_probability": float(np.nanmean(p)) if np.isfinite(p).any() else None,
            }
        )
    return rows


def calibration(y: np.ndarray, probability: np.ndarray) -> dict | None:
    """Predicted against observed in the deciles of the probability (scikit-learn's
    "quantile" bins): ten bins of equal size, fewer and unequal where leads tie."""
    if not np.isfinite(probability).all():
        return None
    observed, predicted = calibration_curve(
        y, probability, n_bins=CALIBRATION_BINS, strategy="quantile"
    )
    # calibration_curve drops empty bins and does not say how many leads each holds:
    # count them with the same edges.
    edges = np.percentile(probability, np.linspace(0, 100, CALIBRATION_BINS + 1))
    which = np.searchsorted(edges[1:-1], probability)  # as calibration_curve assigns them
    counts = np.bincount(which, minlength=CALIBRATION_BINS)
    counts = counts[counts > 0]
    bins = [
        {"leads": int(c), "mean_predicted": float(p), "observed": float(o)}
        for c, p, o in zip(counts, predicted, observed, strict=True)
    ]
    expected_error = sum(b["leads"] * abs(b["mean_predicted"] - b["observed"]) for b in bins)
    return {
        "brier": float(brier_score_loss(y, probability)),
        "brier_of_base_rate": float(y.mean() * (1 - y.mean())),
        "mean_predicted": float(probability.mean()),
        "observed": float(y.mean()),
        "expected_calibration_error": expected_error / y.size,
        "bins": bins,
    }


def mql_at(y: np.ndarray, chosen: np.ndarray) -> dict:
    n = int(chosen.sum())
    hits = int(y[chosen].sum())
    total = int(y.sum())
    return {
        "volume": n,
        "share": n / y.size,
        "converted": hits,
        "precision": hits / n if n else None,
        "recall": hits / total if total else None,
        "lift": hits / n / y.mean() if n and y.mean() else None,
    }


def grade_ok(scores: ModelScores) -> np.ndarray:
    """Leads whose grade meets the model's MQL minimum grade (all, without one)."""
    allowed = scores.plan.mql_grades
    if allowed is None:
        return np.ones(scores.score.size, dtype=bool)
    return np.isin(scores.grade, sorted(allowed))


def mql_thresholds(y: np.ndarray, scores: ModelScores) -> dict:
    """MQL volume, precision and recall at the model's threshold and at candidates."""
    threshold_now = scores.plan.mql_score
    eligible = grade_ok(scores)
    candidates: dict[float, str] = {}
    eligible_scores = scores.score[eligible]
    for share in SHARES:
        # At most this share of all leads (ties at the edge stay out): the MQL set is the
        # eligible leads at or above the threshold.
        if eligible_scores.size:
            at = volume_threshold(eligible_scores, math.floor(share * scores.score.size))
            candidates.setdefault(at, f"top {share:.0%}")
    if threshold_now is not None:
        candidates[threshold_now] = "model"
    rows = []
    for threshold in sorted(candidates, reverse=True):
        row = {"threshold": threshold, "source": candidates[threshold]}
        row.update(mql_at(y, (scores.score >= threshold) & eligible))
        rows.append(row)
    current = None
    if threshold_now is not None:
        min_grade = scores.model.thresholds.mql.min_grade  # type: ignore[union-attr]
        current = {"threshold": threshold_now, "min_grade": min_grade}
        current.update(mql_at(y, scores.mql))
    return {"model": current, "candidates": rows}


def distribution(y: np.ndarray, score: np.ndarray, bins: int = 40) -> dict:
    """Histogram of the score for converted and other leads, on shared edges."""
    lo, hi = float(score.min()), float(score.max())
    if hi <= lo:
        hi = lo + 1
    edges = np.histogram_bin_edges(score, bins=bins, range=(lo, hi))
    converted, _ = np.histogram(score[y == 1], bins=edges)
    other, _ = np.histogram(score[y == 0], bins=edges)
    return {"edges": edges.tolist(), "converted": converted.tolist(), "other": other.tolist()}


def performance(y: np.ndarray, scores: ModelScores) -> dict:
    score = scores.score
    out: dict = {
        "leads": int(y.size),
        "converted": int(y.sum()),
        "conversion_rate": float(y.mean()),
        "score": ranking(y, score),
    }
    if scores.model.predictive is not None and scores.has_probability:
        out["probability"] = ranking(y, np.nan_to_num(scores.probability, nan=-1.0))
    out["gain"] = gain(y, score)
    out["distribution"] = distribution(y, score)
    bands = score_bands(score)
    out["score_bands"] = by_group(
        y,
        [
            (
                band_name(lo, hi),
                (score >= (lo if lo is not None else -np.inf))
                & (score < (hi if hi is not None else np.inf)),
            )
            for lo, hi in bands
        ],
        scores.probability,
    )
    grades = scores.plan.grade_names
    out["grades"] = by_group(y, [(g, scores.grade == g) for g in grades], scores.probability)
    labels = [name for name, _ in scores.plan.labels]
    label_masks = [(name, scores.label == name) for name in labels]
    unlabelled = np.array([v is None for v in scores.label])
    if labels and unlabelled.any():
        label_masks.append(("(no label)", unlabelled))
    out["labels"] = by_group(y, label_masks, scores.probability)
    out["calibration"] = calibration(y, scores.probability)
    out["mql"] = mql_thresholds(y, scores)
    return out


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
