"""Scores with the model's predictive component: probability and top factors per lead.

The features are read from the canonical inputs the way `learn` read them (numbers
in decimal notation, text normalized, the model's missing values missing), fetched
from the engine, run through LightGBM here, and joined back to the scores.
"""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.booster import predict
from leadscore.columns import read_numeric, read_text
from leadscore.engines.base import IbisEngine
from leadscore.features import Feature
from leadscore.logistic import Logistic
from leadscore.model.schema import ScoringModel

FACTORS = "factors"


def with_predictive(
    engine: IbisEngine,
    model: ScoringModel,
    model_file: Path,
    leads: ir.Table,
    events: ir.Table | None,
    scores: ir.Table,
    *,
    id_column: str,
    as_of: float,
) -> ir.Table:
    """`scores` with the predictive probability and a `factors` column."""
    spec = model.predictive
    assert spec is not None
    fields: dict[str, ir.Value] = {"_ls_key": leads[id_column]}
    for i, f in enumerate(spec.features):
        if f.column is not None:
            fields[f"_ls_f{i}"] = leads[f.column]
    table = leads.select(**fields)
    counted = [(i, f.event) for i, f in enumerate(spec.features) if f.event is not None]
    if counted and events is not None:
        kept = events.filter(events.ts <= as_of)
        counts = kept.group_by("lead_id").aggregate(
            **{f"_ls_f{i}": (kept.event == event).sum() for i, event in counted}
        )
        table = table.left_join(counts, table._ls_key == counts.lead_id).drop("lead_id")
    fetched = engine.to_arrow(table)
    missing = model.missing_set
    features = []
    for i, f in enumerate(spec.features):
        name = f"_ls_f{i}"
        if f.type == "count":
            column = fetched[name] if name in fetched.column_names else pa.nulls(fetched.num_rows)
            values = pc.fill_null(pc.cast(column, pa.float64()), 0.0)
            features.append(Feature(f.label, "count", values.to_numpy(zero_copy_only=False)))
        elif f.type == "numeric":
            features.append(Feature(f.label, "numeric", read_numeric(fetched[name], missing)))
        else:
            features.append(Feature(f.label, "categorical", read_text(fetched[name], missing)))
    cal = Logistic(spec.calibration.slope, spec.calibration.intercept)
    result = predict(model_file, features, cal, top=spec.factors)
    predicted = engine.from_arrow(
        pa.table(
            {
                "_ls_key": fetched["_ls_key"],
                "_ls_probability": pa.array(result.probability, pa.float64()),
                FACTORS: pa.array(result.factors, pa.string()),
            }
        )
    )
    joined = scores.left_join(predicted, scores.lead_id == predicted._ls_key)
    return joined.select(
        *[
            joined._ls_probability.name("probability") if c == "probability" else joined[c]
            for c in scores.columns
        ],
        joined[FACTORS],
    )


__all__ = ["FACTORS", "with_predictive"]
