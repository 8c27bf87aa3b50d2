"""Thresholds by volume: the score that lets at most so many leads through.

`learn` sets an MQL threshold by sales capacity with it, and `review` lists the
thresholds that pass the top 5%, 10%... of leads. Ties at the boundary are kept
out, so that the volume never exceeds what was asked (it can fall short of it).
"""

from __future__ import annotations

import numpy as np


def capacity_threshold(scores: np.ndarray, share: float) -> float:
    """The lowest score such that at most `share` of the leads reach it."""
    return volume_threshold(scores, int(np.floor(share * scores.size)))


def volume_threshold(scores: np.ndarray, allowed: int) -> float:
    """The lowest score such that at most `allowed` of the leads reach it."""
    ordered = np.sort(scores)[::-1]
    if allowed >= ordered.size:
        return float(ordered[-1])
    if allowed <= 0:
        return float(ordered[0] + 1)
    # Ties at the boundary would push past capacity: start just above them.
    cut = ordered[allowed]
    above = ordered[ordered > cut]
    return float(above.min()) if above.size else float(cut + 1)


__all__ = ["capacity_threshold", "volume_threshold"]
