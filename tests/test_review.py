"""`leadscore review`: its numbers against scikit-learn's and hand counts, rule health,
drift, champion and challenger, the report in a real browser, and bad input."""

from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from leadscore.generate import generate
from leadscore.review.compare import delong
from leadscore.review.drift import numeric_bins, psi, text_bins
from leadscore.review.performance import gain
from leadscore.review.rules import wilson
from tests.conftest import EXAMPLE_MODEL
from tests.test_cli import run, write_csv

XED = Path(__file__).resolve().parents[2] / "shared" / "data" / "x-education" / "leads.csv"
# Filled in by the sales team after first contact: they leak the outcome (data README).
XED_LEAKS = [
    "Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
    "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score",
    "Last Activity", "Last Notable Activity", "Lead Number",
]  # fmt: skip


@pytest.fixture(scope="module")
def xed(tmp_path_factory) -> Path:
    """x-education split 70/30 (stratified, seed 42); a model learned on the 70%."""
    if not XED.exists():
        pytest.fail(f"{XED} is missing: the tests read ../shared/data beside the project")
    folder = tmp_path_factory.mktemp("xed")
    raw = pd.read_csv(XED, dtype=str, keep_default_na=False)
    train, test = train_test_split(raw, test_size=0.3, stratify=raw["Converted"], random_state=42)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    excludes = [arg for column in XED_LEAKS for arg in ("--exclude", column)]
    done = run("learn", "train.csv", "--target", "Converted", "--id", "Prospect ID",
               *excludes, "-o", "model.yaml", cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    generate(folder, 4000, seed=11, events_per_lead=20)
    return folder


def test_review_numbers_match_scikit_learn_on_the_same_scores(xed: Path):
    """x-education test split: AUC, PR AUC, KS, lift, calibration and Brier, recomputed."""
    done = run("review", "model.yaml", "test.csv", "--target", "Converted", "--id",
               "Prospect ID", "-o", "report.html", "--json", "review.json", cwd=xed)  # fmt: skip
    assert done.returncode == 0, done.stderr
    review = json.loads((xed / "review.json").read_text())
    scored = run("score", "model.yaml", "test.csv", "--id", "Prospect ID", "-o", "scores.csv",
                 "-q", cwd=xed)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    scores = pd.read_csv(xed / "scores.csv", dtype={"lead_id": str})
    truth = pd.read_csv(xed / "test.csv", dtype=str).set_index("Prospect ID")["Converted"]
    y = truth.loc[scores["lead_id"]].astype(int).to_numpy()
    s, p = scores["score"].to_numpy(), scores["probability"].to_numpy()
    perf = review["performance"]

    assert perf["leads"] == len(truth) == 2772 and perf["converted"] == y.sum()
    assert perf["score"]["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert perf["score"]["pr_auc"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s)
    assert perf["score"]["ks"] == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    assert perf["score"]["roc_auc"] > 0.8  # the learned model ranks the held-out leads well
    # Gain from the ROC curve: at each point, (tp + fp) leads hold tp conversions; ties
    # are straight segments between points, which is how the review shares them.
    depth = (tpr * y.sum() + fpr * (y.size - y.sum())) / y.size
    for decile in perf["gain"]["deciles"]:
        k = decile["decile"] / 10
        gained = np.interp(k, depth, tpr)
        assert decile["cumulative_gain"] == pytest.approx(gained, abs=1e-9)
        previous = np.interp(k - 0.1, depth, tpr)
        assert decile["lift"] == pytest.approx((gained - previous) / 0.1, abs=1e-9)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    cal = perf["calibration"]
    assert [b["observed"] for b in cal["bins"]] == pytest.approx(observed.tolist(), abs=1e-12)
    assert [b["mean_predicted"] for b in cal["bins"]] == pytest.approx(predicted.tolist())
    assert sum(b["leads"] for b in cal["bins"]) == y.size
    assert cal["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    # The MQL row of the model's threshold counts what `score` marked as MQL.
    mql = perf["mql"]["model"]
    chosen = scores["mql"].to_numpy()
    assert mql["volume"] == chosen.sum() and mql["converted"] == y[chosen].sum()
    assert mql["recall"] == pytest.approx(y[chosen].sum() / y.sum())
    html = (xed / "report.html").read_text()
    assert _external_sources(html) == []  # plotly.js is inlined: nothing to fetch


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.sources += [v for k, v in attrs if k in ("src", "href") and not v.startswith("#")]


def _external_sources(html: str) -> list[str]:
    """Every src or href of the page but in-page anchors (script bodies are not parsed)."""
    tags = _Tags()
    tags.feed(html)
    return tags.sources


def _charts(html: str) -> list[str]:
    return [part.split('"')[0] for part in html.split('data-chart="')[1:]]


def test_gain_shares_tied_leads_so_row_order_does_not_matter():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 1])
    score = np.array([5, 5, 5, 5, 3, 3, 1, 1, 1, 1], dtype=float)
    deciles = gain(y, score)["deciles"]
    # The top 4 leads tie at 5 with 2 conversions: each decile of 1 lead gets 0.5.
    assert [d["converted"] for d in deciles[:4]] == [0.5] * 4
    assert [d["converted"] for d in deciles[4:6]] == [0.5, 0.5]
    assert [d["converted"] for d in deciles[6:]] == [0.25] * 4
    assert sum(d["converted"] for d in deciles) == y.sum()


@given(
    st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=20, max_size=200),
    st.randoms(use_true_random=False),
)
def test_gain_is_invariant_to_row_order_and_adds_up(rows, rnd):
    y = np.array([int(c) for _, c in rows])
    if y.min() == y.max():
        y[0] = 1 - y[0]
    score = np.array([float(s) for s, _ in rows])
    order = list(range(y.size))
    rnd.shuffle(order)
    a, b = gain(y, score), gain(y[order], score[order])
    assert [d["converted"] for d in a["deciles"]] == pytest.approx(
        [d["converted"] for d in b["deciles"]]
    )
    assert sum(d["converted"] for d in a["deciles"]) == pytest.approx(y.sum())
    gains = [d["cumulative_gain"] for d in a["deciles"]]
    assert gains == sorted(gains) and gains[-1] == pytest.approx(1.0)


def test_delong_matches_auc_and_a_bootstrap_of_the_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    a = y + rng.normal(0, 1.2, y.size)
    b = y + rng.normal(0, 1.0, y.size)
    result = delong(y, a, b)
    assert result["champion_auc"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result["challenger_auc"] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    diffs = []
    for _ in range(300):
        i = rng.integers(0, y.size, y.size)
        diffs.append(roc_auc_score(y[i], b[i]) - roc_auc_score(y[i], a[i]))
    se = (result["high"] - result["low"]) / (2 * 1.96)
    assert se == pytest.approx(np.std(diffs), rel=0.2)
    assert result["low"] > 0 and result["p_value"] < 0.01  # b is the better score


def test_psi_by_hand():
    ref, cur = np.array([50, 30, 20]), np.array([30, 30, 40])
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert psi(ref, cur) == pytest.approx(expected)
    assert psi(ref, ref) == 0
    same = numeric_bins(np.arange(1000.0), np.arange(1000.0))
    assert same["psi"] == pytest.approx(0) and same["level"] == "stable"
    moved = numeric_bins(np.arange(1000.0), np.arange(1000.0) + 300)
    assert moved["level"] == "major"
    text = text_bins(
        np.array(["a"] * 60 + ["b"] * 40 + [None] * 0, dtype=object),
        np.array(["a"] * 40 + ["b"] * 40 + [None] * 20, dtype=object),
    )
    names = [b["bin"] for b in text["bins"]]
    assert names == ["a", "b", "missing"]
    assert text["bins"][2]["current_share"] == pytest.approx(0.2)


def test_wilson_interval():
    low, high = wilson(1, 3)
    assert 0 < low < 1 / 3 < high < 1
    assert wilson(0, 0) == (0.0, 1.0)
    # Narrows with the number of leads.
    assert wilson(100, 300)[1] - wilson(100, 300)[0] < high - low


RULES_MODEL = """\
model: rules
fit:
  rules:
    - name: big company
      if: {employees: {gte: 500}}
      points: 20
    - name: small company
      if: {employees: {lt: 50}}
      points: 15
    - name: enterprise
      if: {segment: enterprise}
      points: 5
    - name: partner
      if: {source: partner}
      points: -10
    - name: fax number given
      if: {fax: {missing: false}}
      points: 5
thresholds:
  mql: {score: 20}
"""


def _rule_leads() -> list[dict]:
    """Big companies convert (rule right); small ones do not (positive points, wrong);
    partners convert (negative points, wrong); nobody gives a fax (never fires);
    'enterprise' is exactly the big companies (always together)."""
    rows = []
    for i in range(400):
        big, small, partner = i % 4 == 0, i % 4 == 1, i % 5 == 0
        converted = big or (partner and i % 3 != 0) or i % 10 == 3
        rows.append(
            {
                "lead_id": f"L{i}",
                "employees": 1000 if big else 20 if small else 200,
                "segment": "enterprise" if big else "smb",
                "source": "partner" if partner else "web",
                "fax": "",
                "converted": int(converted),
            }
        )
    return rows


def test_rule_health_lists_the_rules_to_revisit(tmp_path: Path):
    (tmp_path / "model.yaml").write_text(RULES_MODEL)
    write_csv(tmp_path / "leads.csv", _rule_leads())
    done = run("review", "model.yaml", "leads.csv", "--target", "converted", "-o", "r.html",
               "--json", "r.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rules = {r["rule"]: r for r in json.loads((tmp_path / "r.json").read_text())["rules"]["rules"]}
    leads = pd.DataFrame(_rule_leads())
    big = leads[leads.employees >= 500]
    assert rules["big company"]["fired"] == len(big)
    assert rules["big company"]["lift"] == pytest.approx(
        big.converted.mean() / leads.converted.mean()
    )
    assert rules["big company"]["suggested_points"] > 0
    assert not any("lift" in f for f in rules["big company"]["flags"])
    assert any("positive points, but" in f for f in rules["small company"]["flags"])
    assert any("negative points, but" in f for f in rules["partner"]["flags"])
    assert rules["fax number given"]["fired"] == 0
    assert any("never fires" in f for f in rules["fax number given"]["flags"])
    assert any("'enterprise'" in f for f in rules["big company"]["flags"])
    assert any("'big company'" in f for f in rules["enterprise"]["flags"])


def test_compare_shows_the_mql_volume_change_a_hand_count_gives(generated: Path, tmp_path: Path):
    """The example model against the same model with a lower MQL threshold."""
    challenger = EXAMPLE_MODEL.read_text().replace("mql: {score: 80", "mql: {score: 60")
    assert challenger != EXAMPLE_MODEL.read_text()
    (tmp_path / "challenger.yaml").write_text(challenger.replace("version: 1", "version: 2"))
    leads, events = str(generated / "leads.parquet"), str(generated / "events.parquet")
    done = run("review", str(EXAMPLE_MODEL), leads, "--events", events, "--target",
               "converted", "--compare", "challenger.yaml", "-o", "r.html", "--json", "r.json",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    c = json.loads((tmp_path / "r.json").read_text())["comparison"]
    as_of = json.loads((tmp_path / "r.json").read_text())["data"]["as_of"]
    counts = {}
    for name, model in (("champion", str(EXAMPLE_MODEL)), ("challenger", "challenger.yaml")):
        out = run("score", model, leads, "--events", events, "--as-of", as_of, "-o",
                  f"{name}.parquet", "-q", cwd=tmp_path)  # fmt: skip
        assert out.returncode == 0, out.stderr
        counts[name] = pq.read_table(tmp_path / f"{name}.parquet").to_pandas().set_index("lead_id")
    a, b = counts["champion"]["mql"], counts["challenger"]["mql"].loc[counts["champion"].index]
    assert c["mql_volume_change"] == b.sum() - a.sum() > 0
    assert c["champion"]["mql"]["volume"] == a.sum()
    assert c["challenger"]["mql"]["volume"] == b.sum()
    assert c["become_mql"]["leads"] == (b & ~a).sum()
    assert c["stop_being_mql"]["leads"] == (a & ~b).sum() == 0
    truth = pq.read_table(generated / "leads.parquet").to_pandas().set_index("lead_id")
    assert c["become_mql"]["converted"] == truth.loc[(b & ~a)[b & ~a].index, "converted"].sum()
    examples = c["become_mql"]["examples"]
    assert len(examples) == 5 and all(e["challenger"]["reasons"] for e in examples)
    assert all(60 <= e["challenger"]["score"] < 80 for e in examples)
    assert (
        c["verdict"].startswith("A trade-off")
        and f"{c['mql_volume_change']:+,} MQLs" in (c["verdict"])
    )
    assert "Champion and challenger" in (tmp_path / "r.html").read_text()


def test_drift_against_an_earlier_period(generated: Path, tmp_path: Path):
    """The same model, later leads with more big companies: the employees attribute moves."""
    leads = pq.read_table(generated / "leads.parquet").to_pandas()
    early, late = leads.iloc[:2000].copy(), leads.iloc[2000:].copy()
    late["employees"] = late["employees"] * 20
    early.to_csv(tmp_path / "early.csv", index=False)
    late.to_csv(tmp_path / "late.csv", index=False)
    events = str(generated / "events.parquet")
    done = run("review", str(EXAMPLE_MODEL), "late.csv", "--events", events, "--target",
               "converted", "--reference", "early.csv", "-o", "r.html", "--json", "r.json",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    drift = json.loads((tmp_path / "r.json").read_text())["drift"]
    by_name = {a["attribute"]: a for a in drift["attributes"]}
    assert by_name["employees"]["level"] == "major"
    assert drift["attributes"][0]["attribute"] == "employees"  # most moved first
    assert by_name["industry"]["level"] == "stable"
    assert drift["reference_leads"] == 2000 and drift["current_leads"] == len(late)
    assert "attributes that moved: employees" in done.stdout


def test_leads_without_an_outcome_are_left_out_and_counted(tmp_path: Path):
    (tmp_path / "model.yaml").write_text(RULES_MODEL)
    rows = _rule_leads()
    for row in rows[:7]:
        row["converted"] = ""
    write_csv(tmp_path / "leads.csv", rows)
    done = run("review", "model.yaml", "leads.csv", "--target", "converted", "-o", "r.html",
               "--json", "r.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "r.json").read_text())["data"]
    assert data["with_outcome"] == 393 and data["without_outcome"] == 7
    assert "7 of 400 leads have no outcome" in done.stderr


def test_outcomes_from_their_own_file(tmp_path: Path):
    (tmp_path / "model.yaml").write_text(RULES_MODEL)
    rows = _rule_leads()
    write_csv(tmp_path / "leads.csv", [{k: v for k, v in r.items() if k != "converted"}
                                       for r in rows])  # fmt: skip
    write_csv(tmp_path / "won.csv", [{"lead_id": r["lead_id"], "won": r["converted"]}
                                     for r in rows[:300]])  # fmt: skip
    done = run("review", "model.yaml", "leads.csv", "--target", "won", "--outcomes", "won.csv",
               "-o", "r.html", "--json", "r.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    review = json.loads((tmp_path / "r.json").read_text())
    assert review["data"]["with_outcome"] == 300
    assert review["performance"]["converted"] == sum(r["converted"] for r in rows[:300])


def test_review_of_a_predictive_model_ranks_by_its_probability(generated: Path, tmp_path: Path):
    leads, events = str(generated / "leads.parquet"), str(generated / "events.parquet")
    done = run("learn", leads, "--target", "converted", "--events", events, "--predictive",
               "-o", "m.yaml", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run("review", "m.yaml", leads, "--events", events, "--target", "converted",
               "-o", "r.html", "--json", "r.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    review = json.loads((tmp_path / "r.json").read_text())
    as_of = review["data"]["as_of"]
    out = run("score", "m.yaml", leads, "--events", events, "--as-of", as_of, "-o", "s.parquet",
              "-q", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    scores = pq.read_table(tmp_path / "s.parquet").to_pandas().set_index("lead_id")
    truth = pq.read_table(generated / "leads.parquet").to_pandas().set_index("lead_id")
    y = truth.loc[scores.index, "converted"].astype(int)
    perf = review["performance"]
    assert review["model"]["probability"] == "predictive"
    assert perf["probability"]["roc_auc"] == pytest.approx(
        roc_auc_score(y, scores["probability"]), abs=1e-9
    )
    assert perf["calibration"]["brier"] == pytest.approx(
        brier_score_loss(y, scores["probability"]), abs=1e-9
    )


# -- the report in a real browser -------------------------------------------------------


def test_report_draws_every_chart_in_chromium(generated: Path, tmp_path: Path):
    """Every chart of a full report (comparison and drift included) draws, offline, cleanly."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: make test installs it"
    challenger = EXAMPLE_MODEL.read_text().replace("mql: {score: 80", "mql: {score: 60")
    (tmp_path / "challenger.yaml").write_text(challenger)
    leads = pq.read_table(generated / "leads.parquet").to_pandas()
    leads.iloc[:1500].to_csv(tmp_path / "early.csv", index=False)
    leads.iloc[1500:].to_csv(tmp_path / "late.csv", index=False)
    done = run("review", str(EXAMPLE_MODEL), "late.csv", "--events",
               str(generated / "events.parquet"), "--target", "converted", "--compare",
               "challenger.yaml", "--reference", "early.csv", "-o", "report.html",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "report.html").read_text()
    expected = _charts(html)
    assert {"gain", "lift", "distribution", "bands", "grades", "labels", "calibration", "mql",
            "rules", "psi", "drift-scores", "comparison"} <= set(expected)  # fmt: skip

    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((tmp_path / "report.html").as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.chart .main-svg').length >= {len(expected)}",
                timeout=30_000,
            )
            drawn = page.evaluate(
                """Array.from(document.querySelectorAll('.chart')).map(d => ({
                    name: d.dataset.chart,
                    svg: d.querySelectorAll('.main-svg').length,
                    marks: d.querySelectorAll('.trace path, .trace .point, .bars path').length,
                    width: d.getBoundingClientRect().width,
                }))"""
            )
        finally:
            browser.close()
    assert [d["name"] for d in drawn] == expected
    for chart in drawn:
        assert chart["svg"] > 0 and chart["marks"] > 0, chart
        assert chart["width"] > 300, chart
    assert problems == []
    assert all(url.startswith("file://") for url in requests), requests


# -- bad input ---------------------------------------------------------------------------


def _bad(tmp_path: Path, *args: str) -> str:
    (tmp_path / "model.yaml").write_text(RULES_MODEL)
    if not (tmp_path / "leads.csv").exists():
        write_csv(tmp_path / "leads.csv", _rule_leads())
    done = run("review", "model.yaml", "leads.csv", *args, "-o", "r.html", "--json", "r.json",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".r.*"))  # nothing written
    return done.stderr


def test_missing_target_column(tmp_path: Path):
    message = _bad(tmp_path, "--target", "won")
    assert "leads.csv" in message and "no target column 'won'" in message


def test_target_that_is_not_binary(tmp_path: Path):
    rows = _rule_leads()
    rows[5]["converted"] = "2"
    write_csv(tmp_path / "leads.csv", rows)
    message = _bad(tmp_path, "--target", "converted")
    assert "column 'converted'" in message and "3 distinct values ('0', '1', '2')" in message


def test_no_lead_in_common_with_the_outcomes(tmp_path: Path):
    write_csv(tmp_path / "won.csv", [{"lead_id": f"X{i}", "won": i % 2} for i in range(50)])
    message = _bad(tmp_path, "--target", "won", "--outcomes", "won.csv")
    assert "won.csv" in message and "no lead in common with leads.csv" in message


def test_outcomes_of_the_reviewed_leads_all_the_same(tmp_path: Path):
    rows = _rule_leads()
    write_csv(tmp_path / "won.csv", [{"lead_id": r["lead_id"], "won": 0} for r in rows[:50]]
              + [{"lead_id": "gone", "won": 1}])  # fmt: skip
    message = _bad(tmp_path, "--target", "won", "--outcomes", "won.csv")
    assert "won.csv column 'won'" in message
    assert "none of the 50 leads with an outcome converted" in message


def test_bad_reference_stops_the_review_before_anything_is_scored(tmp_path: Path):
    write_csv(tmp_path / "early.csv", [{"lead_id": "a", "segment": "smb"}])
    message = _bad(tmp_path, "--target", "converted", "--reference", "early.csv")
    assert "early.csv" in message and "'employees'" in message  # no progress bar before it


def test_challenger_with_another_id_column(tmp_path: Path):
    (tmp_path / "other.yaml").write_text("id: prospect\n" + RULES_MODEL)
    message = _bad(tmp_path, "--target", "converted", "--compare", "other.yaml")
    assert "other.yaml" in message and "'prospect'" in message and "'lead_id'" in message


def test_existing_report_is_left_alone_on_bad_input(tmp_path: Path):
    (tmp_path / "model.yaml").write_text(RULES_MODEL)
    write_csv(tmp_path / "leads.csv", _rule_leads())
    (tmp_path / "r.html").write_text("last quarter's report")
    done = run("review", "model.yaml", "leads.csv", "--target", "nope", "-o", "r.html",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert (tmp_path / "r.html").read_text() == "last quarter's report"


# -- issue 11 ---------------------------------------------------------------------------


def test_a_file_of_won_deals_as_outcomes(tmp_path: Path):
    """The README's own example: a CRM export of won deals, one value only."""
    (tmp_path / "model.yaml").write_text(RULES_MODEL)
    rows = _rule_leads()
    write_csv(tmp_path / "leads.csv", [{k: v for k, v in r.items() if k != "converted"}
                                       for r in rows])  # fmt: skip
    won = [r for r in rows if r["converted"]]
    write_csv(tmp_path / "won.csv", [{"lead_id": r["lead_id"], "stage": "Closed Won"}
                                     for r in won])  # fmt: skip
    message = _bad(tmp_path, "--target", "stage", "--outcomes", "won.csv")
    assert "the target has 1 distinct value ('closed won')" in message
    assert "--absent-not-converted" in message
    done = run("review", "model.yaml", "leads.csv", "--target", "stage", "--outcomes",
               "won.csv", "--absent-not-converted", "-o", "r.html", "--json", "r.json",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    review = json.loads((tmp_path / "r.json").read_text())
    assert review["data"]["with_outcome"] == len(rows)
    assert review["performance"]["converted"] == len(won)
    assert review["data"]["positive"] == "closed won"
    for written in tmp_path.glob("r.*"):
        written.unlink()
    line = _bad(tmp_path, "--target", "converted", "--absent-not-converted")
    assert "--absent-not-converted goes with --outcomes" in line


def test_rule_health_flags_a_rule_that_fires_for_nearly_every_lead(tmp_path: Path):
    (tmp_path / "model.yaml").write_text(
        RULES_MODEL.replace(
            "thresholds:",
            "    - {name: anyone, if: {segment: {missing: false}}, points: 3}\nthresholds:",
        )
    )
    write_csv(tmp_path / "leads.csv", _rule_leads())
    done = run("review", "model.yaml", "leads.csv", "--target", "converted", "-o", "r.html",
               "--json", "r.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rules = {r["rule"]: r for r in json.loads((tmp_path / "r.json").read_text())["rules"]["rules"]}
    assert any("fires for 100.0% of the leads" in f for f in rules["anyone"]["flags"])
    assert "anyone" in json.loads((tmp_path / "r.json").read_text())["rules"]["to_revisit"]
    assert not any("fires for" in f for f in rules["big company"]["flags"])


def test_mql_candidates_stay_within_their_share_of_leads(tmp_path: Path):
    """With ties at the boundary, the "top 5%" row once passed 10.5% of the leads."""
    from leadscore.model.load import parse_model
    from leadscore.plan import build_plan
    from leadscore.review.data import ModelScores
    from leadscore.review.performance import mql_thresholds

    score = np.repeat([100.0, 50.0, 10.0, 0.0], [30, 75, 300, 595])  # 1,000 leads, many ties
    model = parse_model("model: m\nthresholds:\n  mql: {score: 50}\n")
    n = score.size
    none = np.array([None] * n, dtype=object)
    scores = ModelScores(Path("m.yaml"), build_plan(model), score, none,
                         none, score >= 50, np.full(n, np.nan),
                         None, None)  # type: ignore[arg-type]  # fmt: skip
    y = (score > 40).astype(int)
    rows = mql_thresholds(y, scores)["candidates"]
    for row in rows:
        if row["source"].startswith("top "):
            share = float(row["source"][4:-1]) / 100
            assert row["share"] <= share + 1e-12, row
    by_source = {r["source"]: r for r in rows}
    assert by_source["top 5%"]["volume"] == 30  # the 75 tied at 50 would make it 10.5%
