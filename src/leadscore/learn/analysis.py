"""Attribute analysis: how each bin of each attribute goes with conversion.

Per bin: leads, converters, conversion rate, lift (rate / overall rate), weight of
evidence and its share of the information value. Here the weight of evidence is
ln(share of converters in the bin / share of non-converters in the bin), so that a
positive value means "converts more than average" and becomes positive points
(credit scoring writes it the other way round, with defaults as the event). A bin
with no converters or no non-converters would have an infinite weight, so the
bin's two counts get 0.5 added in the shares (the Haldane-Anscombe correction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # binning uses analyse; the type alone goes the other way
    from leadscore.learn.binning import Binned

SMOOTHING = 0.5


@dataclass(frozen=True)
class BinStats:
    attribute: str
    bin: str
    leads: int
    converters: int
    rate: float
    lift: float
    woe: float
    iv: float


@dataclass(frozen=True)
class AttributeStats:
    binned: Binned
    bins: list[BinStats]

    @property
    def name(self) -> str:
        return self.binned.name

    @property
    def iv(self) -> float:
        return float(sum(b.iv for b in self.bins))

    @property
    def woe(self) -> np.ndarray:
        return np.array([b.woe for b in self.bins])

    @property
    def strength(self) -> str:
        return iv_strength(self.iv)


def iv_strength(iv: float) -> str:
    """The usual reading of an information value (Siddiqi, Credit Risk Scorecards): above
    0.5 it is suspicious, since columns filled in after the outcome look like that."""
    if iv < 0.02:
        return "useless"
    if iv < 0.1:
        return "weak"
    if iv < 0.3:
        return "medium"
    if iv < 0.5:
        return "strong"
    return "suspicious"


def analyse(binned: Binned, y: np.ndarray) -> AttributeStats:
    k = len(binned.bins)
    inside = binned.index >= 0
    leads = np.bincount(binned.index[inside], minlength=k)
    conv = np.bincount(binned.index[inside], weights=y[inside], minlength=k).astype(int)
    total_conv, total = int(y.sum()), int(y.size)
    total_non = total - total_conv
    overall = total_conv / total
    stats = []
    for i, b in enumerate(binned.bins):
        non = leads[i] - conv[i]
        share_conv = (conv[i] + SMOOTHING) / total_conv
        share_non = (non + SMOOTHING) / total_non
        woe = float(np.log(share_conv / share_non))
        rate = conv[i] / leads[i] if leads[i] else 0.0
        stats.append(
            BinStats(
                attribute=binned.name,
                bin=b.label(binned.feature.spelling),
                leads=int(leads[i]),
                converters=int(conv[i]),
                rate=float(rate),
                lift=float(rate / overall) if overall else 0.0,
                woe=woe,
                iv=float((share_conv - share_non) * woe),
            )
        )
    return AttributeStats(binned, stats)


def woe_column(stats: AttributeStats) -> np.ndarray:
    """Each lead's weight of evidence (0, the average, outside every bin)."""
    woe = np.append(stats.woe, 0.0)  # index -1 reads the appended 0
    return woe[stats.binned.index]


def analysis_rows(attributes: list[AttributeStats]) -> list[dict[str, object]]:
    """The whole analysis, strongest attribute first, as rows for a CSV file."""
    rows = []
    for rank, attr in enumerate(sorted(attributes, key=lambda a: -a.iv), start=1):
        for b in attr.bins:
            rows.append(
                {
                    "rank": rank,
                    "attribute": attr.name,
                    "attribute_iv": round(attr.iv, 6),
                    "strength": attr.strength,
                    "bin": b.bin,
                    "leads": b.leads,
                    "converters": b.converters,
                    "conversion_rate": round(b.rate, 6),
                    "lift": round(b.lift, 6),
                    "woe": round(b.woe, 6),
                    "iv": round(b.iv, 6),
                }
            )
    return rows
