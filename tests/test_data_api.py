"""The data-level APIs the service builds on: tables and parsed models in, typed results
out, no file written. learn -> model -> {batch engine, one-lead scorer} -> review."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadscore.batch import score_tables
from leadscore.errors import DataError
from leadscore.generate import generate
from leadscore.learn import Objective, learn
from leadscore.learn.data import load_dataset
from leadscore.one_lead import LeadScorer
from leadscore.review import ModelInput, Review, review_data

AS_OF = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> tuple[pa.Table, pa.Table]:
    folder = tmp_path_factory.mktemp("generated")
    generate(folder, 3000, seed=5, events_per_lead=10, end=AS_OF)
    return pq.read_table(folder / "leads.parquet"), pq.read_table(folder / "events.parquet")


def test_learn_score_and_review_tables_without_files(tables, tmp_path: Path) -> None:
    leads, events = tables
    before = set(tmp_path.iterdir())
    data = load_dataset(leads, target="converted", events=events, exclude=["email_domain"])
    assert data.source == "leads" and data.n == leads.num_rows
    learned = learn(data, Objective("recall", 0.8))
    model = learned.model("from-tables")
    assert model.model == "from-tables" and model.fit.rules and model.engagement.rules

    # The batch engine and the one-lead scorer give every lead the same score.
    batch = score_tables(model, leads, events, as_of=AS_OF).scores
    by_id = {r["lead_id"]: r for r in batch.to_pylist()}
    scorer = LeadScorer(model)
    by_lead: dict[str, list[dict]] = {}
    for event in events.to_pylist():
        by_lead.setdefault(event["lead_id"], []).append(event)
    for lead in leads.slice(0, 200).to_pylist():
        online = scorer.score(lead, by_lead.get(lead["lead_id"], []), as_of=AS_OF)
        assert online.score == pytest.approx(by_id[lead["lead_id"]]["score"], abs=1e-6)
        assert online.mql == by_id[lead["lead_id"]]["mql"]

    review = review_data(
        ModelInput(model, "from-tables"),
        leads,
        target="converted",
        events=events,
        as_of=AS_OF,
    )
    assert isinstance(review, Review)
    assert review.data["leads_file"] == "leads" and review.data["leads"] == leads.num_rows
    auc = review.performance["score"]["roc_auc"]
    assert 0.6 < auc <= 1.0, auc  # the generated leads carry signal that learn found
    assert {r["rule"] for r in review.rules["rules"]} == set(model.rule_names)
    assert review.as_json()["model"]["name"] == "from-tables"
    assert set(tmp_path.iterdir()) == before  # nothing written


def test_table_inputs_are_named_by_field_in_errors(tables) -> None:
    leads, events = tables
    with pytest.raises(DataError) as info:
        load_dataset(leads.drop_columns(["converted"]), target="converted")
    assert info.value.path == "leads" and "converted" in info.value.message
    broken = events.set_column(
        events.schema.get_field_index("lead_id"),
        "lead_id",
        pa.array(np.full(events.num_rows, "nobody"), pa.string()),
    )
    with pytest.raises(DataError) as info:
        load_dataset(leads, target="converted", events=broken)
    assert info.value.path == "events" and "none of its" in info.value.message
