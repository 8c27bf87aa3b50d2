"""A predictive component at scoring time: its LightGBM booster, applied to features.

Kept apart from training (learn.predictive) so that scoring a model with a predictive
part loads neither scikit-learn nor optbinning: LightGBM imports scikit-learn only
for its scikit-learn-style estimators, which scoring does not use, and that import
costs more than a second.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadscore.errors import DataError, shown
from leadscore.features import Feature
from leadscore.logistic import Logistic

if TYPE_CHECKING:
    import lightgbm as lightgbm_types


def lightgbm() -> ModuleType:
    """LightGBM, imported without scikit-learn unless scikit-learn is already loaded."""
    if "lightgbm" not in sys.modules and "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # LightGBM then skips it
        try:
            import lightgbm
        finally:
            del sys.modules["sklearn"]
    import lightgbm

    return lightgbm


def frame(features: list[Feature], categories: dict[str, list[str]]) -> pd.DataFrame:
    """The model's input: numbers as floats, text as categories known at training."""
    columns = {}
    for i, f in enumerate(features):
        if f.kind == "categorical":
            columns[f"f{i}"] = pd.Categorical(f.values, categories=categories[f.name])
        else:
            columns[f"f{i}"] = f.values.astype(float)
    return pd.DataFrame(columns)


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


def load_booster(model_file: Path) -> lightgbm_types.Booster:
    """The booster of a LightGBM text file; DataError naming the file if it cannot be read."""
    lgb = lightgbm()
    lgb.register_logger(_QuietLogger())
    try:
        return lgb.Booster(model_file=str(model_file))
    except lgb.basic.LightGBMError as exc:
        raise DataError(
            str(model_file), f"cannot read the LightGBM model ({shown(str(exc), 120)[1:-1]})"
        ) from None


class Predictor:
    """A predictive component ready to apply: its booster loaded once, its categories
    and calibration at hand (the one-lead scorer keeps one per model)."""

    def __init__(self, model_file: Path, calibration: Logistic, top: int = 3):
        self.booster = load_booster(model_file)
        self.calibration = calibration
        self.top = top

    def predict(self, features: list[Feature]) -> Prediction:
        booster = self.booster
        categories = dict(
            zip(
                [f.name for f in features if f.kind == "categorical"],
                booster.pandas_categorical or [],
                strict=False,
            )
        )
        data = frame(features, categories)
        raw = booster.predict(data, raw_score=True)
        contrib = booster.predict(data, pred_contrib=True)[:, :-1]  # the last is the bias
        order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, : self.top]
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
        return Prediction(np.asarray(self.calibration(raw), dtype=float), factors)


def predict(
    model_file: Path,
    features: list[Feature],
    calibration: Logistic,
    top: int = 3,
) -> Prediction:
    return Predictor(model_file, calibration, top).predict(features)


__all__ = ["Prediction", "Predictor", "frame", "lightgbm", "load_booster", "predict"]
