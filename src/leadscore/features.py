"""One attribute of many leads, as arrays: what learning fits and the predictive part reads.

Shared by learn (which builds features from past leads) and scoring (which builds the
same features for a predictive model's booster), so that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass
class Feature:
    """One attribute as learned from: numbers (NaN = missing) or normalized text (None)."""

    name: str
    kind: Literal["numeric", "categorical", "count"]
    values: np.ndarray
    # Normalized text -> the spelling most leads use, to write readable conditions.
    spelling: dict[str, str] = field(default_factory=dict)
    event: str | None = None  # for counts: the event type counted

    def take(self, rows: np.ndarray) -> Feature:
        return Feature(self.name, self.kind, self.values[rows], self.spelling, self.event)


__all__ = ["Feature"]
