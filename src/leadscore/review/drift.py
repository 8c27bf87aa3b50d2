"""Drift: has the population moved since the reference period?

The population stability index compares the share of leads in each bin:
PSI = sum((current - reference) * ln(current / reference)). Under 0.1 the
population is stable, from 0.1 to 0.25 it has moved (watch it), above 0.25 it
has moved a lot (review the model). Bins: the reference's deciles for the score
and for numeric attributes, each common value for text attributes; missing
values are a bin of their own.
"""

from __future__ import annotations

import numpy as np

from leadscore.columns import read_numeric, read_text
from leadscore.model.conditions import AllOf, AnyOf, Condition, Test
from leadscore.model.schema import ScoringModel
from leadscore.review.data import Population
from leadscore.timeutil import format_epoch

MODERATE, MAJOR = 0.1, 0.25
_FLOOR = 1e-4  # the share an empty bin counts as (the PSI of a 0 share is infinite)
_NUMERIC_TESTS = {"between", "gt", "gte", "lt", "lte"}
_MIN_VALUE_SHARE = 0.01  # text values rarer than this in both periods are "other values"
_MAX_VALUES = 30


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two count vectors over the same bins."""
    ref = np.maximum(reference / max(reference.sum(), 1), _FLOOR)
    cur = np.maximum(current / max(current.sum(), 1), _FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def level(value: float) -> str:
    if value > MAJOR:
        return "major"
    if value > MODERATE:
        return "moderate"
    return "stable"


def numeric_bins(reference: np.ndarray, current: np.ndarray) -> dict:
    """Counts in the reference's decile bins (and a missing bin)."""
    present = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(present, np.linspace(0.1, 0.9, 9))) if present.size else []
    names = []
    for i in range(len(edges) + 1):
        lo = edges[i - 1] if i else None
        hi = edges[i] if i < len(edges) else None
        names.append(
            f"<= {hi:g}"
            if lo is None and hi is not None
            else f"> {lo:g}"
            if hi is None and lo is not None
            else "all"
            if lo is None
            else f"{lo:g} to {hi:g}"
        )

    def count(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        which = np.searchsorted(edges, values[~missing], side="left")
        return np.r_[np.bincount(which, minlength=len(edges) + 1), missing.sum()]

    return _bins([*names, "missing"], count(reference), count(current))


def text_bins(reference: np.ndarray, current: np.ndarray) -> dict:
    """Counts of each common value, the rest as "other values", and missing."""
    values: dict[str, float] = {}
    for arr in (reference, current):
        present = arr[arr != None]  # noqa: E711 (element-wise on an object array)
        kinds, counts = np.unique(present.astype(str), return_counts=True)
        for v, c in zip(kinds, counts, strict=True):
            values[v] = max(values.get(v, 0.0), c / max(arr.size, 1))
    common = sorted(
        (v for v, share in values.items() if share >= _MIN_VALUE_SHARE), key=lambda v: -values[v]
    )[:_MAX_VALUES]

    def count(arr: np.ndarray) -> np.ndarray:
        missing = np.array([v is None for v in arr], dtype=bool)
        text = arr[~missing].astype(str)
        counts = [int(np.sum(text == v)) for v in common]
        return np.array([*counts, int(text.size - sum(counts)), int(missing.sum())])

    return _bins([*common, "other values", "missing"], count(reference), count(current))


def _bins(names: list[str], reference: np.ndarray, current: np.ndarray) -> dict:
    keep = (reference > 0) | (current > 0)
    value = psi(reference, current)
    return {
        "psi": value,
        "level": level(value),
        "bins": [
            {
                "bin": name,
                "reference_share": float(r / max(reference.sum(), 1)),
                "current_share": float(c / max(current.sum(), 1)),
            }
            for name, r, c, k in zip(names, reference, current, keep, strict=True)
            if k
        ],
    }


def numeric_columns(model: ScoringModel) -> set[str]:
    """Attributes that the fit rules compare as numbers."""
    found: set[str] = set()

    def visit(cond: Condition | None) -> None:
        if isinstance(cond, Test):
            if cond.op in _NUMERIC_TESTS:
                found.add(cond.column)
        elif isinstance(cond, AllOf | AnyOf):
            for item in cond.items:
                visit(item)

    for rule in model.fit.rules:
        visit(rule.condition)
    return found


def drift(model: ScoringModel, reference: Population, current: Population) -> dict:
    """PSI of the score and of each fit attribute, most shifted first."""
    ref_score, cur_score = reference.scores[0].score, current.scores[0].score
    score = numeric_bins(ref_score, cur_score)
    numeric = numeric_columns(model)
    missing = model.missing_set
    attributes = []
    for column in current.attributes:
        if column not in reference.attributes:
            continue
        ref, cur = reference.attributes[column], current.attributes[column]
        kind = "numeric" if column in numeric else "text"
        read = read_numeric if kind == "numeric" else read_text
        binned = numeric_bins if kind == "numeric" else text_bins
        bins = binned(read(ref, missing), read(cur, missing))
        attributes.append({"attribute": column, "kind": kind, **bins})
    attributes.sort(key=lambda a: -a["psi"])
    return {
        "reference": reference.source,
        "reference_leads": int(reference.ids.size),
        "reference_as_of": format_epoch(reference.as_of),
        "current_leads": int(current.ids.size),
        "thresholds": {"moderate": MODERATE, "major": MAJOR},
        "score": score,
        "score_distribution": _histograms(ref_score, cur_score),
        "attributes": attributes,
    }


def _histograms(reference: np.ndarray, current: np.ndarray, bins: int = 40) -> dict:
    """Shares of leads per score bin in each period, on shared edges."""
    edges = np.histogram_bin_edges(np.r_[reference, current], bins=bins)
    ref, _ = np.histogram(reference, bins=edges)
    cur, _ = np.histogram(current, bins=edges)
    return {
        "edges": edges.tolist(),
        "reference": (ref / max(ref.sum(), 1)).tolist(),
        "current": (cur / max(cur.sum(), 1)).tolist(),
    }
