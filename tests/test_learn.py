"""`leadscore learn`: the analysis against a hand computation, the written model read back
by validate and score, the MQL objectives, missing values, feature choice, bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from leadscore.batch import score_tables
from leadscore.features import Feature
from leadscore.generate import generate
from leadscore.learn import Objective, learn
from leadscore.learn.analysis import analyse
from leadscore.learn.binning import Bin, Binned
from leadscore.learn.data import load_dataset
from leadscore.learn.thresholds import capacity_threshold, recall_threshold, trade_off
from leadscore.model import load_model
from leadscore.model.load import predictive_path
from tests.test_cli import run, write_csv


def industry_leads(n_extra_converters: int = 0) -> list[dict]:
    """300 leads whose conversion rates by industry are known by construction."""
    rows = []
    plan = [("software", 100, 60), ("retail", 120, 12), ("Select", 80, 20)]  # Select: missing
    i = 0
    for industry, leads, converted in plan:
        for k in range(leads):
            i += 1
            rows.append(
                {
                    "lead_id": f"L{i}",
                    "industry": industry if k % 3 else industry.upper(),  # case is ignored
                    "visits": str(k % 7 if industry != "retail" else 999),
                    "converted": "yes" if k < converted else "no",
                    "signup_date": f"2024-01-{1 + k % 28:02d}",
                    "region": "emea",
                }
            )
    return rows


# -- the analysis ---------------------------------------------------------------------


def test_analysis_matches_a_hand_computation():
    y = np.array([1] * 60 + [0] * 40 + [1] * 12 + [0] * 108 + [1] * 20 + [0] * 60)
    index = np.array([0] * 100 + [1] * 120 + [2] * 80)
    feature = Feature("industry", "categorical", np.array([None] * 300, dtype=object))
    bins = [Bin("values", values=("software",)), Bin("values", values=("retail",)), Bin("missing")]
    stats = analyse(Binned(feature, bins, index), y)
    conv_total, non_total = 92, 208
    hand = []
    for leads, conv in ((100, 60), (120, 12), (80, 20)):
        share_c, share_n = (conv + 0.5) / conv_total, (leads - conv + 0.5) / non_total
        woe = math.log(share_c / share_n)
        hand.append((leads, conv, conv / leads, (conv / leads) / (92 / 300), woe,
                     (share_c - share_n) * woe))  # fmt: skip
    for got, want in zip(stats.bins, hand, strict=True):
        assert (got.leads, got.converters) == want[:2]
        assert got.rate == pytest.approx(want[2])
        assert got.lift == pytest.approx(want[3])
        assert got.woe == pytest.approx(want[4])
        assert got.iv == pytest.approx(want[5])
    assert stats.iv == pytest.approx(sum(h[5] for h in hand))
    assert stats.bins[0].woe > 0 > stats.bins[1].woe  # positive: converts more than average


def test_learn_writes_the_analysis_the_data_gives(tmp_path: Path):
    write_csv(tmp_path / "leads.csv", industry_leads())
    done = run("learn", "leads.csv", "--target", "converted", "-o", "m.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with (tmp_path / "m.analysis.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["attribute"] == "industry"]
    by_bin = {r["bin"]: r for r in rows}
    # Each industry is its own bin (the rates differ), spelled as most leads spell it.
    assert set(by_bin) == {"software", "retail", "missing"}
    for name, leads, conv in (("software", 100, 60), ("retail", 120, 12), ("missing", 80, 20)):
        assert int(by_bin[name]["leads"]) == leads
        assert int(by_bin[name]["converters"]) == conv
        assert float(by_bin[name]["conversion_rate"]) == pytest.approx(conv / leads, abs=1e-6)
        assert float(by_bin[name]["lift"]) == pytest.approx(conv / leads / (92 / 300), abs=1e-6)
    assert "industry" in done.stdout  # the table printed


# -- the model it writes ----------------------------------------------------------------


def test_missing_values_and_placeholders_get_their_own_points(tmp_path: Path):
    write_csv(tmp_path / "leads.csv", industry_leads())
    done = run("learn", "leads.csv", "--target", "converted", "--missing", "999", "-o", "m.yaml",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    model = load_model(tmp_path / "m.yaml")
    assert {"select", "999"} <= {str(v) for v in model.missing_values}
    conditions = {r.name: r.condition for r in model.fit.rules}
    assert "industry: missing" in conditions
    assert "visits: missing" in conditions  # 999 became missing: the retail leads
    text = (tmp_path / "m.yaml").read_text()
    assert "80 leads, 25.0% converted" in text  # the comment says where the points came from


def test_columns_that_cannot_be_features_are_left_out_with_a_reason(tmp_path: Path):
    write_csv(tmp_path / "leads.csv", industry_leads())
    done = run("learn", "leads.csv", "--target", "converted", "--exclude", "visits",
               "-o", "m.yaml", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "m.yaml").read_text()
    assert "dates as text: when a lead came is not who it is" in text and "signup_date" in text
    assert "constant: a single value: region" in text
    assert "excluded with --exclude: visits" in text
    model = load_model(tmp_path / "m.yaml")
    read = {c for r in model.fit.rules for c in _columns(r.condition)}
    assert read == {"industry"}  # never the id, the target, or what was left out


def _columns(cond) -> set[str]:
    from leadscore.model.conditions import columns_of

    return columns_of(cond)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(folder, 6000, seed=3, events_per_lead=20)
    return folder


def test_round_trip_learn_validate_score(generated: Path, tmp_path: Path):
    """The written model scores every lead as learn computed it, on the real engine."""
    data = load_dataset(
        generated / "leads.parquet", target="converted", events=generated / "events.parquet"
    )
    learned = learn(data, Objective("recall", 0.8))
    leads, events = str(generated / "leads.parquet"), str(generated / "events.parquet")
    done = run("learn", leads, "--target", "converted", "--events", events, "-o", "m.yaml",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert run("validate", "m.yaml", cwd=tmp_path).returncode == 0
    model = load_model(tmp_path / "m.yaml")
    assert model.engagement.rules, "event types with signal become engagement rules"
    assert all(isinstance(r.points, int) for r in model.fit.rules)
    assert model.calibration is not None and model.thresholds.mql is not None
    leads = pq.read_table(generated / "leads.parquet")
    scored = score_tables(model, leads, pq.read_table(generated / "events.parquet"),
                          as_of=data.as_of).scores.to_pandas().set_index("lead_id")  # fmt: skip
    ids = leads["lead_id"].to_numpy()
    np.testing.assert_allclose(scored.loc[ids, "score"].to_numpy(), learned.scores, atol=1e-6)
    auc = roc_auc_score(data.y, scored.loc[ids, "score"])
    assert auc > 0.75
    mql_recall = scored.loc[ids, "mql"].to_numpy()[data.y == 1].mean()
    assert mql_recall >= 0.8
    # Calibrated on held-out leads: the mean probability is near the conversion rate.
    assert scored["probability"].mean() == pytest.approx(data.y.mean(), abs=0.02)
    out = run("score", "m.yaml", str(generated / "leads.parquet"), "--events",
              str(generated / "events.parquet"), "-o", "s.csv", "-q", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_predictive_model_is_saved_named_and_explains_each_lead(generated: Path, tmp_path: Path):
    done = run("learn", str(generated / "leads.parquet"), "--target", "converted",
               "--events", str(generated / "events.parquet"), "--predictive", "-o", "m.yaml",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    model = load_model(tmp_path / "m.yaml")
    assert model.predictive is not None and (tmp_path / model.predictive.file).is_file()
    leads = pq.read_table(generated / "leads.parquet")
    events = pq.read_table(generated / "events.parquet")
    as_of = float(pq.read_table(generated / "events.parquet", columns=["timestamp"])["timestamp"]
                  .to_numpy().max().astype("int64")) / 1e6  # fmt: skip
    scores = score_tables(
        model,
        leads,
        events,
        as_of=as_of,
        predictive_file=predictive_path(tmp_path / "m.yaml", model),
    ).scores
    df = scores.to_pandas()
    assert df["probability"].between(0, 1).all()
    y = leads["converted"].to_numpy()
    by_id = df.set_index("lead_id").loc[leads["lead_id"].to_numpy()]
    assert roc_auc_score(y, by_id["probability"]) > roc_auc_score(y, by_id["score"]) - 0.02
    factors = [json.loads(f) for f in df["factors"]]
    assert all(1 <= len(f) <= 3 for f in factors)
    names = {item["feature"] for f in factors for item in f}
    assert names <= {*(c for c in leads.column_names), *(f"{e} events" for e in
                     set(events["event"].to_pylist()))}  # fmt: skip
    first = factors[0]
    assert abs(first[0]["contribution"]) >= abs(first[-1]["contribution"])
    (tmp_path / model.predictive.file).unlink()
    gone = run("validate", "m.yaml", cwd=tmp_path)
    assert gone.returncode == 2 and "predictive.file" in gone.stderr


# -- the MQL threshold --------------------------------------------------------------------


def test_threshold_objectives_by_hand():
    scores = np.array([90, 80, 80, 70, 60, 50, 40, 30, 20, 10], float)
    y = np.array([1, 1, 0, 1, 0, 1, 0, 0, 1, 0])
    # 5 conversions: 80% is 4 of them, the 4th converter from the top scores 50.
    assert recall_threshold(scores, y, 0.8) == 50
    assert recall_threshold(scores, y, 1.0) == 20
    # Top 30% of 10 leads is 3: scores >= 80 are exactly 3 leads.
    assert capacity_threshold(scores, 0.3) == 80
    # Top 20% is 2 leads, but 80 is shared by two more: only 90 fits.
    assert capacity_threshold(scores, 0.2) == 90
    row = trade_off(scores, y, [50])[0]
    assert (row.leads, row.precision, row.recall) == (6, 4 / 6, 0.8)


@pytest.mark.parametrize(("option", "value"), [("--mql-recall", "0.9"), ("--mql-capacity", "0.2")])
def test_mql_objective_holds_on_the_learning_data(tmp_path: Path, generated: Path, option, value):
    done = run("learn", str(generated / "leads.parquet"), "--target", "converted", option, value,
               "-o", "m.yaml", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "<- MQL" in done.stdout  # the trade-off table
    model = load_model(tmp_path / "m.yaml")
    leads = pq.read_table(generated / "leads.parquet")
    df = score_tables(model, leads, as_of=0).scores.to_pandas().set_index("lead_id")
    mql = df.loc[leads["lead_id"].to_numpy(), "mql"].to_numpy()
    y = leads["converted"].to_numpy()
    if option == "--mql-recall":
        assert mql[y].mean() >= 0.9
    else:
        assert 0.15 <= mql.mean() <= 0.2


# -- bad input --------------------------------------------------------------------------


def _bad(tmp_path: Path, rows: list[dict], *args: str) -> str:
    write_csv(tmp_path / "leads.csv", rows)
    done = run("learn", "leads.csv", *args, "-o", "m.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("m.*")) and not list(tmp_path.glob(".m.*"))  # nothing written
    return done.stderr


def test_target_with_other_than_two_values(tmp_path: Path):
    rows = industry_leads()
    rows[0]["converted"] = "maybe"
    message = _bad(tmp_path, rows, "--target", "converted")
    assert "3 distinct values ('maybe', 'no', 'yes')" in message


def test_missing_target_column(tmp_path: Path):
    message = _bad(tmp_path, industry_leads(), "--target", "won")
    assert "leads.csv" in message and "no target column 'won'" in message


def test_other_pair_of_values_needs_positive(tmp_path: Path):
    rows = [{**r, "converted": "won" if r["converted"] == "yes" else "lost"} for r in
            industry_leads()]  # fmt: skip
    message = _bad(tmp_path, rows, "--target", "converted")
    assert "--positive" in message
    done = run("learn", "leads.csv", "--target", "converted", "--positive", "WON", "-o", "m.yaml",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "converted = won" in (tmp_path / "m.yaml").read_text()


def test_no_usable_feature_left(tmp_path: Path):
    message = _bad(tmp_path, industry_leads(), "--target", "converted", "--exclude", "industry",
                   "--exclude", "visits")  # fmt: skip
    assert "no usable feature left" in message and "signup_date" in message


def test_duplicate_id_names_both_rows(tmp_path: Path):
    rows = industry_leads()
    rows[5]["lead_id"] = rows[2]["lead_id"]
    message = _bad(tmp_path, rows, "--target", "converted")
    assert "leads.csv row 6 column 'lead_id': duplicate lead id 'L3' (also in row 3)" in message


def test_too_few_converters(tmp_path: Path):
    rows = industry_leads()
    for i, row in enumerate(rows):
        row["converted"] = "yes" if i < 12 else "no"
    message = _bad(tmp_path, rows, "--target", "converted")
    assert "only 12 converters" in message and "at least 30" in message


def test_both_objectives_at_once(tmp_path: Path):
    message = _bad(tmp_path, industry_leads(), "--target", "converted", "--mql-recall", "0.8",
                   "--mql-capacity", "0.1")  # fmt: skip
    assert "not both" in message


# -- what learn decides for the user (issue 11) -------------------------------------------


def _leads_with(columns: dict, n: int = 400, seed: int = 1) -> list[dict]:
    """Leads whose outcome follows `plan` (industry), plus the given column makers."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        industry = ["software", "retail", "media", "health"][i % 4]
        rate = {"software": 0.6, "retail": 0.1, "media": 0.3, "health": 0.3}[industry]
        row = {"industry": industry, "converted": "1" if rng.random() < rate else "0"}
        row.update({name: make(i) for name, make in columns.items()})
        rows.append(row)
    return rows


def test_learn_uses_the_one_id_column_it_finds(tmp_path: Path):
    write_csv(tmp_path / "leads.csv", _leads_with({"mql_id": lambda i: f"M-{i:05d}"}))
    done = run("learn", "leads.csv", "--target", "converted", "-o", "m.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the id column is 'mql_id'" in done.stderr
    assert load_model(tmp_path / "m.yaml").id == "mql_id"
    # And the model scores the file it was learned from, as a user would try next.
    scored = run("score", "m.yaml", "leads.csv", "-o", "s.csv", "-q", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr


def test_learn_refuses_to_guess_between_two_id_columns(tmp_path: Path):
    rows = _leads_with({"mql_id": lambda i: f"M{i}", "number": lambda i: str(660000 + i)})
    line = _bad(tmp_path, rows, "--target", "converted")
    assert "2 columns have a different value for each lead ('mql_id', 'number')" in line
    assert "--id" in line


def test_periods_and_near_unique_text_are_left_out(tmp_path: Path):
    months = ["jan", "feb", "mar", "apr", "may", "jun"]
    rows = _leads_with(
        {
            "lead_id": lambda i: f"L{i}",
            "month": lambda i: months[i % 6],
            "day": lambda i: ["mon", "tue", "wed", "thu", "fri"][i % 5],
            "quarter": lambda i: f"2024-Q{1 + i % 4}",
            "note": lambda i: f"called on try {i % 300}",
        }
    )
    write_csv(tmp_path / "leads.csv", rows)
    done = run("learn", "leads.csv", "--target", "converted", "-o", "m.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "m.yaml").read_text()
    assert "months as text" in text and "month" in text
    assert "days of the week as text" in text and "quarters as text" in text
    assert "nearly a different value for each lead (300 distinct values in 400)" in text
    model = load_model(tmp_path / "m.yaml")
    read = {c for r in model.fit.rules for c in _columns(r.condition)}
    assert read == {"industry"}


def test_values_never_seen_in_learning_get_no_points(tmp_path: Path):
    # A few rare industries, grouped with others when learning: the rule lists them, so
    # that an industry never seen (the 'energy' of a new market) gets nothing.
    rows = _leads_with({"lead_id": lambda i: f"L{i}"})
    for k, rare in enumerate(["mining", "legal", "travel"] * 5):
        rows[k]["industry"] = rare
    write_csv(tmp_path / "leads.csv", rows)
    done = run("learn", "leads.csv", "--target", "converted", "-o", "m.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    model = load_model(tmp_path / "m.yaml")
    assert not [r for r in model.fit.rules if r.name.endswith("other values")]
    listed = {v for r in model.fit.rules for v in getattr(r.condition, "value", ())}
    assert {"mining", "legal", "travel"} <= listed
    from leadscore.one_lead import score_lead

    unseen = score_lead(model, {"lead_id": "n", "industry": "energy"}, as_of=0)
    assert unseen.fit_score == 0 and unseen.reasons == ()
    seen = score_lead(model, {"lead_id": "s", "industry": "software"}, as_of=0)
    assert seen.fit_score > 0


CATCH_ALL = """\
model: learned
fit:
  rules:
    - name: 'month: may, jun'
      if: {month: {in: [may, jun]}}
      points: 12
    - name: 'month: other values'
      if: {month: {not_in: [may, jun]}}
      points: -56
"""


def test_score_warns_when_a_catch_all_rule_fires_for_most_leads(tmp_path: Path):
    (tmp_path / "m.yaml").write_text(CATCH_ALL)
    rows = [{"lead_id": f"L{i}", "month": ["nov", "dec", "may"][i % 3]} for i in range(300)]
    write_csv(tmp_path / "leads.csv", rows)
    done = run("score", "m.yaml", "leads.csv", "-o", "s.csv", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rule 'month: other values' fired for 67% of the 300 leads" in done.stderr
    assert "values the model does not know" in done.stderr
    rows = [{"lead_id": f"L{i}", "month": ["jun", "may", "dec"][i % 3]} for i in range(300)]
    write_csv(tmp_path / "leads.csv", rows)
    done = run("score", "m.yaml", "leads.csv", "-o", "s.csv", "-q", cwd=tmp_path)
    assert done.returncode == 0 and "fired for" not in done.stderr
