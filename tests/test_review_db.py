"""`leadscore review MODEL --db URL` on real SQLite and PostgreSQL: the numbers it shows
against a count made here from the same rows (AUC by scikit-learn on the stored scores,
acceptance by band, rejection reasons), a challenger version, and its mistakes."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from leadscore.service.store.database import Database
from leadscore.service.store.tables import Score, ScoreSnapshot
from leadscore.timeutil import format_epoch
from tests.service_support import EXAMPLE_MODEL, api, fresh_postgres

REASONS = ["bad fit", "no budget", "wrong contact"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def loop(request, tmp_path_factory):
    """400 generated leads imported, outcomes from their known conversions (won, or lost
    for some of the others), and reps' verdicts on most MQLs."""
    tmp = tmp_path_factory.mktemp("review-db")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/service.db"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    done = cli("generate", "--leads", "400", "--seed", "5", "-o", "data", cwd=tmp)
    assert done.returncode == 0, done.stderr
    leads = pq.read_table(tmp / "data" / "leads.parquet")
    pq.write_table(leads.drop_columns(["converted"]), tmp / "crm.parquet")
    v2 = EXAMPLE_MODEL.read_text().replace("version: 1", "version: 2")
    (tmp / "v2.yaml").write_text(v2.replace("mql: {score: 80", "mql: {score: 60"))
    with api(url) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        a.add_model((tmp / "v2.yaml").read_text(), activate=False)
    done = cli("import", "crm.parquet", "--events", "data/events.parquet", "--db", url, cwd=tmp)
    assert done.returncode == 0, done.stderr
    rng = random.Random(3)
    ids = [str(x) for x in leads.column("lead_id").to_pylist()]
    converted = dict(zip(ids, leads.column("converted").to_pylist(), strict=True))
    outcomes = [
        {"lead_id": i, "outcome": "won" if c else "lost", "at": time.time()}
        for i, c in converted.items()
        if c or rng.random() < 0.4
    ]
    verdicts = {}
    with api(url) as a:
        for start in range(0, len(outcomes), 500):
            body = {"outcomes": outcomes[start : start + 500]}
            assert a.post("/api/v1/outcomes", "ingest", json=body).status_code == 200
        mqls = [r["lead_id"] for r in _page(a, "mql")]
        for lead_id in mqls:
            pick = rng.random()
            if pick < 0.2:
                continue  # no verdict yet
            body = (
                {"verdict": "accepted"}
                if pick < 0.65
                else {"verdict": "rejected", "reason": rng.choice(REASONS)}
            )
            assert a.post(f"/api/v1/leads/{lead_id}/feedback", "read", json=body).status_code == 201
            verdicts[lead_id] = body
    return {"url": url, "tmp": tmp, "outcomes": outcomes, "verdicts": verdicts, "mqls": mqls}


def _page(a, stage: str) -> list[dict]:
    out, cursor = [], None
    while True:
        params = {"stage": stage, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = a.get("/api/v1/leads", params=params).json()
        out += page["data"]
        if not (cursor := page["next_cursor"]):
            return out


def test_review_db_numbers_are_the_rows_numbers(loop):
    tmp, url = loop["tmp"], loop["url"]
    db = Database(url)
    with db.read() as conn:
        query = select(Score.lead_id, Score.score, Score.scored_at)
        rows = conn.execute(query.where(Score.model == "b2b-saas"))
        stored = {r.lead_id: (r.score, r.scored_at) for r in rows}
        query = select(ScoreSnapshot.lead_id, ScoreSnapshot.score, ScoreSnapshot.grade)
        snaps = {r.lead_id: r for r in conn.execute(query.where(ScoreSnapshot.kind == "mql"))}
    db.dispose()
    # As of the moment the import scored them, the review's scores are the stored ones.
    scored_at = {t for _, t in stored.values()}
    assert len(scored_at) == 1
    as_of = format_epoch(scored_at.pop())
    done = cli("review", "b2b-saas", "--db", url, "--as-of", as_of, "-o", "r.html",
               "--json", "r.json", "-q", cwd=tmp)  # fmt: skip
    assert done.returncode == 0, done.stderr
    r = json.loads((tmp / "r.json").read_text())
    labels = {o["lead_id"]: o["outcome"] == "won" for o in loop["outcomes"]}
    y = [labels[k] for k in labels]
    scores = [stored[k][0] for k in labels]
    assert r["performance"]["leads"] == len(labels)
    assert r["performance"]["converted"] == sum(y)
    assert r["performance"]["score"]["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-9)
    # The sales section, counted again from the verdicts given and the MQL snapshots.
    s = r["sales"]
    verdicts = loop["verdicts"]
    assert s["mqls"] == len(snaps) >= len(loop["mqls"])
    assert s["accepted"] == sum(v["verdict"] == "accepted" for v in verdicts.values())
    assert s["rejected"] == sum(v["verdict"] == "rejected" for v in verdicts.values())
    for row in s["by_band"]:
        inside = [k for k, x in snaps.items() if row["key"] <= x.score < row["key"] + 10]
        acc = sum(verdicts.get(k, {}).get("verdict") == "accepted" for k in inside)
        rej = sum(verdicts.get(k, {}).get("verdict") == "rejected" for k in inside)
        assert (row["mqls"], row["accepted"], row["rejected"]) == (len(inside), acc, rej)
        assert row["acceptance_rate"] == (
            None if acc + rej == 0 else pytest.approx(acc / (acc + rej))
        )
    by_reason = {}
    for row in s["rejections_by_rule"]:
        by_reason.setdefault(row["reason"], {})[row["rule"]] = row["count"]
    for reason in REASONS:
        rejected = [k for k, v in verdicts.items() if v.get("reason") == reason]
        if rejected:  # every MQL has a positive rule; the most common one fired for many
            assert max(by_reason[reason].values()) <= len(rejected)
            assert sum(by_reason[reason].values()) >= len(rejected)
    lost = sorted(
        k for k, v in verdicts.items() if v["verdict"] == "accepted" and labels.get(k) is False
    )
    assert s["accepted_lost"] == lost
    won = sorted(
        snaps[k].score for k, v in verdicts.items() if v["verdict"] == "accepted" and labels.get(k)
    )
    if won:
        assert s["recommended_threshold"]["score"] == won[int(len(won) * 0.1 + 1e-9)]
    html = (tmp / "r.html").read_text()
    assert 'id="sales"' in html and "Acceptance by score band" in html
    assert "accepted" in done.stdout and "ROC AUC" in done.stdout


def test_review_db_backtests_another_version_and_refuses_mistakes(loop):
    tmp, url = loop["tmp"], loop["url"]
    (tmp / "empty.db").write_bytes(b"")
    done = cli("review", "b2b-saas", "--db", url, "--compare", "2", "-o", "c.html",
               "--json", "c.json", "-q", cwd=tmp)  # fmt: skip
    assert done.returncode == 0, done.stderr
    c = json.loads((tmp / "c.json").read_text())["comparison"]
    assert str(c["challenger"]["version"]) == "2"
    assert c["challenger"]["mql"]["volume"] >= c["champion"]["mql"]["volume"]  # a lower bar
    for args, says in [
        (["b2b-saas", "--db", url, "--compare", "9"], "no version '9'"),
        (["nope", "--db", url], "no active version"),
        (["b2b-saas:7", "--db", url], "no version '7'"),
        (["b2b-saas", "--db", url, "--events", "e.csv"], "not with --db"),
        (["b2b-saas", "leads.csv", "--db", url], "not with --db"),
        (["b2b-saas", "--db", url, "--since", "someday"], "--since"),
        (["b2b-saas", "--db", url, "--since", "2099-01-01"], "no lead has a won or lost outcome"),
        (["b2b-saas", "--db", "sqlite:///nothere.db"], "no such file"),
        (["b2b-saas", "--db", "empty.db"], "not a leadscore service database"),
    ]:
        done = cli("review", *args, "-o", "x.html", cwd=tmp)
        assert done.returncode == 2 and says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp / "x.html").exists()
    assert not (tmp / "nothere.db").exists()  # a mistyped name makes no empty database


def test_the_models_page_reviews_a_version_on_the_services_data(loop):
    with api(loop["url"]) as a:
        c = a.client
        assert (
            c.post("/login", data={"key": a.keys["admin"]}, follow_redirects=False).status_code
            == 303
        )
        page = c.get("/models").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        r = c.post(
            "/models/b2b-saas/versions/1/review-now", data={"csrf": csrf}, follow_redirects=False
        )
        assert r.status_code == 303, r.text
        report = c.get("/models/b2b-saas/versions/1/review")
        assert report.status_code == 200 and 'id="sales"' in report.text
        assert "sandbox" in report.headers["content-security-policy"]
        assert "review on the service" in c.get("/models").text
