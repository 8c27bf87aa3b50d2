"""Bins for every feature: optbinning's optimal binning, rare categories grouped.

A bin is what a scorecard rule tests: a range of numbers, a set of values, every
value not in the other bins ("other"), or missing. Numbers bins are half-open,
[low, high), with split points rounded to three significant digits so that people
can read them; the bins are then recounted with the rounded splits.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from optbinning import OptimalBinning

from leadscore.features import Feature
from leadscore.learn.analysis import analyse

OTHER = "\x00other"
# optbinning's "auto" finds the trend of each number: ascending, descending, a peak or a valley.
NUMERIC_TREND: str | None = "auto"
MIN_BIN_SHARE = 0.02
FREE_SHAPE_GAIN = 1.05
FIT_SAMPLE = 200_000  # rare categories, grouped before binning (cannot clash with a value)
# Rare values seen in learning are listed in their bin's rule, up to this many, so that a
# value never seen gets no points (0: an average lead) instead of the rare values' points.
# Beyond it, new values are common in the data, and a catch-all "other values" rule
# gives them the rare values' points.
MAX_LISTED_RARE = 50
NAMED_RARE = 3  # a rule's name lists up to this many rare values, then counts them


@dataclass(frozen=True)
class Bin:
    kind: Literal["range", "values", "other", "missing"]
    low: float | None = None  # range: low <= x < high; None is unbounded
    high: float | None = None
    values: tuple[str, ...] = ()  # values: these; other: every value not in these
    members: tuple[str, ...] = ()  # other: the frequent values it holds, for its label
    rare: int = 0  # values: how many of them are rare values, named in the label by count

    def label(self, spelling: dict[str, str] | None = None) -> str:
        spelling = spelling or {}
        if self.kind == "missing":
            return "missing"
        if self.kind == "other":
            named = [spelling.get(v, v) for v in self.members]
            return ", ".join([*named, "other values"])
        if self.kind == "values":
            if self.rare > NAMED_RARE:  # a long list: named by count
                named = [spelling.get(v, v) for v in self.members]
                rare = f"{self.rare} rare values"
                return ", ".join(named) + f" and {rare}" if named else rare
            return ", ".join(spelling.get(v, v) for v in self.values)
        if self.low is None:
            return f"under {_num(self.high)}"
        if self.high is None:
            return f"{_num(self.low)} or more"
        return f"{_num(self.low)} to under {_num(self.high)}"

    def condition(self, spelling: dict[str, str] | None = None) -> dict[str, Any]:
        """The test on the feature's column, as written in a model file."""
        spelling = spelling or {}
        if self.kind == "missing":
            return {"missing": True}
        if self.kind == "values":
            return {"in": [spelling.get(v, v) for v in self.values]}
        if self.kind == "other":
            if not self.values:
                return {"missing": False}
            return {"not_in": [spelling.get(v, v) for v in self.values]}
        test: dict[str, Any] = {}
        if self.low is not None:
            test["gte"] = _plain_number(self.low)
        if self.high is not None:
            test["lt"] = _plain_number(self.high)
        return test


@dataclass
class Binned:
    feature: Feature
    bins: list[Bin]
    index: np.ndarray  # the bin of each lead

    @property
    def name(self) -> str:
        return self.feature.name


def bin_feature(feature: Feature, y: np.ndarray, min_bin_share: float | None = None) -> Binned:
    """Bins found on (a sample of) the leads, then every lead assigned to its bin."""
    min_bin_share = min_bin_share or MIN_BIN_SHARE
    sample = fit_sample(y)
    fit_on, fit_y = (feature, y) if sample is None else (feature.take(sample), y[sample])
    if feature.kind == "categorical":
        found = _bin_categorical(fit_on, fit_y, min_bin_share)
    else:
        found = _bin_numeric(fit_on, fit_y, min_bin_share)
    if sample is None:
        return found
    return _drop_empty(Binned(feature, found.bins, assign(found.bins, feature.values)))


def fit_sample(y: np.ndarray, limit: int | None = None) -> np.ndarray | None:
    """A stratified random sample of FIT_SAMPLE leads (None when there are fewer).

    Bins with at least 2% of the leads are found as well on 200,000 leads as on
    millions, and optbinning's search grows with the leads; the counts, weights of
    evidence and points are then computed on every lead.
    """
    limit = limit or FIT_SAMPLE
    if y.size <= limit:
        return None
    rng = np.random.default_rng(0)
    parts = []
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        take = max(1, round(limit * rows.size / y.size))
        parts.append(rng.choice(rows, size=take, replace=False))
    return np.sort(np.concatenate(parts))


def _bin_numeric(feature: Feature, y: np.ndarray, min_bin_share: float) -> Binned:
    """Monotonic bins where the trend is monotonic, free bins where a shape pays.

    optbinning's "auto" picks a monotonic trend (or one peak or valley); bins without a
    trend are kept only when they carry clearly more information (FREE_SHAPE_GAIN),
    as for economic indicators whose effect rises and falls.
    """
    x = feature.values
    present = ~np.isnan(x)
    if np.unique(x[present]).size <= 1:
        return _numeric_bins(feature, [], present)
    trend = "auto_asc_desc" if feature.kind == "count" else NUMERIC_TREND
    shaped = _numeric_bins(feature, _splits(feature, y, min_bin_share, trend), present)
    if feature.kind == "count":
        return shaped
    free = _numeric_bins(feature, _splits(feature, y, min_bin_share, None), present)
    if _iv(free, y) > FREE_SHAPE_GAIN * _iv(shaped, y):
        return free
    return shaped


def _splits(feature: Feature, y: np.ndarray, min_bin_share: float, trend: str | None) -> list:
    x = feature.values
    present = ~np.isnan(x)
    optb = _fit(
        OptimalBinning(
            name=feature.name,
            dtype="numerical",
            min_prebin_size=min_bin_share / 2,
            min_bin_size=min_bin_share,
            monotonic_trend=trend,
        ),
        x[present],
        y[present],
    )
    return sorted({_round_split(s) for s in optb.splits})


def _numeric_bins(feature: Feature, splits: list[float], present: np.ndarray) -> Binned:
    edges = [None, *splits, None]
    bins = [Bin("range", lo, hi) for lo, hi in itertools.pairwise(edges)]
    if not present.all():
        bins.append(Bin("missing"))
    return _drop_empty(Binned(feature, bins, assign(bins, feature.values)))


def _iv(binned: Binned, y: np.ndarray) -> float:
    return analyse(binned, y).iv


def _bin_categorical(feature: Feature, y: np.ndarray, min_bin_share: float) -> Binned:
    x = feature.values
    series = pd.Series(x, dtype=object)
    present = series.notna().to_numpy()
    counts = series.value_counts(dropna=True)
    rare_limit = max(30, int(0.005 * x.size))
    values = np.array(sorted(counts.index), dtype=object)
    rare = set(counts.index[counts < rare_limit])
    grouped = series[present].where(~series[present].isin(rare), OTHER).to_numpy(dtype=object)
    groups: list[list[str]]
    if pd.unique(grouped).size > 1:
        optb = _fit(
            OptimalBinning(
                name=feature.name,
                dtype="categorical",
                min_prebin_size=min_bin_share / 2,
                min_bin_size=min_bin_share,
            ),
            grouped,
            y[present],
        )
        groups = [sorted(str(v) for v in split) for split in optb.splits]
    else:
        groups = [sorted(pd.unique(grouped).tolist())]
    named = sorted(set(values.tolist()) - rare)
    bins: list[Bin] = []
    for group in groups:
        if OTHER in group:
            members = tuple(v for v in group if v != OTHER)
            if len(rare) <= MAX_LISTED_RARE:
                listed = tuple(sorted({*members, *rare}))
                bins.append(Bin("values", values=listed, members=members, rare=len(rare)))
            else:
                # Many rare values: new ones are common, and like the rare ones.
                others = tuple(v for v in named if v not in group)
                bins.append(Bin("other", values=others, members=members))
        else:
            bins.append(Bin("values", values=tuple(group)))
    if not present.all():
        bins.append(Bin("missing"))
    return _drop_empty(Binned(feature, bins, assign(bins, x)))


def assign(bins: list[Bin], values: np.ndarray) -> np.ndarray:
    """The bin of each value (-1: in none), as the model's conditions would decide."""
    missing_bin = next((i for i, b in enumerate(bins) if b.kind == "missing"), -1)
    index = np.full(values.size, -1)
    if values.dtype == object:  # normalized text, None for missing
        lookup = {v: i for i, b in enumerate(bins) if b.kind == "values" for v in b.values}
        other = next((i for i, b in enumerate(bins) if b.kind == "other"), -1)
        series = pd.Series(values, dtype=object)
        found = series.map(lookup).fillna(other).to_numpy(dtype=np.int64)
        return np.where(series.isna().to_numpy(), missing_bin, found)
    present = ~np.isnan(values)
    ranges = [(i, b) for i, b in enumerate(bins) if b.kind == "range"]
    if ranges:
        splits = np.array([b.low for _, b in ranges[1:]], dtype=float)
        order = np.array([i for i, _ in ranges])
        index[present] = order[np.searchsorted(splits, values[present], side="right")]
    index[~present] = missing_bin
    return index


def _fit(optb: OptimalBinning, x: np.ndarray, y: np.ndarray) -> OptimalBinning:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optb.fit(x, y)
    return optb


def _drop_empty(binned: Binned) -> Binned:
    """Rounded splits can leave a range empty: merge it into the range above."""
    used = np.bincount(binned.index[binned.index >= 0], minlength=len(binned.bins)) > 0
    bins = list(binned.bins)
    for i in reversed(range(len(bins) - 1)):
        if not used[i] and bins[i].kind == "range" and bins[i + 1].kind == "range":
            bins[i + 1] = Bin("range", bins[i].low, bins[i + 1].high)
            del bins[i]
    if len(bins) == len(binned.bins):
        return binned
    return Binned(binned.feature, bins, assign(bins, binned.feature.values))


def _round_split(value: float) -> float:
    if value == 0 or not np.isfinite(value):
        return float(value)
    digits = 3 - int(np.floor(np.log10(abs(value)))) - 1
    return float(round(value, max(digits, -12)))


def _num(value: float | None) -> str:
    return f"{_plain_number(value):,}" if value is not None else ""


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
