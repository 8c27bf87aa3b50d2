"""Sales feedback, outcomes and the scores as they were, through the API, on real SQLite
and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from leadscore.service.store.tables import Feedback, Outcome, ScoreSnapshot
from tests.service_support import EXAMPLE_MODEL, api, fresh_postgres

VP = {"title": "VP Sales", "industry": "software", "employees": 500, "country": "US"}


@pytest.fixture(params=["sqlite", "postgres"])
def service(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/service.db"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    with api(url) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        leads = [{"lead_id": x, "attributes": VP} for x in ("L1", "L2", "L3")]
        assert a.post("/api/v1/leads", "ingest", json={"leads": leads}).status_code == 200
        yield a


def event(a, lead_id: str, name: str = "demo_request", at: float | None = None) -> None:
    body = {"events": [{"lead_id": lead_id, "event": name, "timestamp": at or time.time()}]}
    assert a.post("/api/v1/events", "ingest", json=body).status_code == 200


def snapshots(a, lead_id: str) -> list[dict]:
    with a.client.app.state.service.db.read() as conn:
        rows = conn.execute(
            select(ScoreSnapshot.__table__)
            .where(ScoreSnapshot.lead_id == lead_id)
            .order_by(ScoreSnapshot.id)
        ).mappings()
        return [dict(r) for r in rows]


def test_verdicts_need_a_reason_of_the_list_and_are_kept_with_author_and_score(service):
    a = service
    event(a, "L1")
    post = lambda body, scope="read": a.post("/api/v1/leads/L1/feedback", scope, json=body)  # noqa: E731
    for body, field in [
        ({"verdict": "rejected"}, "reason"),
        ({"verdict": "rejected", "reason": "too expensive"}, "reason"),
        ({"verdict": "rejected", "reason": "other"}, "note"),
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "accepted", "extra": 1}, "extra"),
    ]:
        r = post(body)
        assert r.status_code == 422, (body, r.text)
        assert field in {p["field"] for p in r.json()["problems"]}, (body, r.json())
    assert post({"verdict": "accepted"}, "ingest").status_code == 403
    assert (
        a.post("/api/v1/leads/NOPE/feedback", "read", json={"verdict": "accepted"}).status_code
        == 404
    )
    r = post({"verdict": "rejected", "reason": "other", "note": "a reseller, not a buyer"})
    assert r.status_code == 201, r.text
    given = r.json()
    lead = a.get("/api/v1/leads/L1").json()["scores"]["b2b-saas"]
    assert given["author"].startswith("read-") and given["verdict"] == "rejected"
    assert given["score"] == pytest.approx(lead["score"], abs=0.01)
    assert (given["grade"], given["stage"]) == ("A", "mql")
    assert post({"verdict": "accepted"}, "admin").status_code == 201
    listed = a.get("/api/v1/leads/L1/feedback").json()["data"]
    assert [x["verdict"] for x in listed] == ["rejected", "accepted"]
    assert listed[1]["author"].startswith("admin-")
    causes = [e["cause"] for e in a.get("/api/v1/leads/L1/history").json()["data"]]
    assert [c for c in causes if c["kind"] == "feedback"] == [
        {"kind": "feedback", "verdict": "rejected", "reason": "other", "by": given["author"]},
        {"kind": "feedback", "verdict": "accepted", "reason": None, "by": listed[1]["author"]},
    ]


def test_the_team_edits_its_reasons(service):
    a = service
    assert [r["name"] for r in a.get("/api/v1/feedback-reasons").json()["reasons"]] == [
        "bad fit", "no budget", "wrong contact", "already a customer", "spam", "other",
    ]  # fmt: skip
    new = {
        "reasons": [
            {"name": "no budget"},
            {"name": "student"},
            {"name": "other", "needs_note": True},
        ]
    }
    assert (
        a.client.put("/api/v1/feedback-reasons", json=new, headers=a.as_("read")).status_code == 403
    )
    twice = {"reasons": [{"name": "spam"}, {"name": "Spam"}]}
    r = a.client.put("/api/v1/feedback-reasons", json=twice, headers=a.as_("admin"))
    assert r.status_code == 422 and r.json()["problems"][0]["index"] == 1
    r = a.client.put("/api/v1/feedback-reasons", json=new, headers=a.as_("admin"))
    assert [x["name"] for x in r.json()["reasons"]] == ["no budget", "student", "other"]
    body = {"verdict": "rejected", "reason": "student"}
    assert a.post("/api/v1/leads/L2/feedback", "read", json=body).status_code == 201
    body = {"verdict": "rejected", "reason": "spam"}
    assert a.post("/api/v1/leads/L2/feedback", "read", json=body).status_code == 422


def test_outcomes_are_stored_once_and_refused_whole_when_one_is_wrong(service):
    a = service
    won = {"lead_id": "L1", "outcome": "won", "at": "2026-11-20T10:00:00Z", "amount": 1200.0}
    bad = [
        won,
        {"lead_id": "NOPE", "outcome": "won", "at": 1},
        {"lead_id": "L2", "outcome": "maybe", "at": 1},
        {"lead_id": "L3", "outcome": "lost", "at": "yesterday"},
        {"lead_id": "L3", "outcome": "lost", "at": 1, "amount": -5},
    ]
    r = a.post("/api/v1/outcomes", "ingest", json={"outcomes": bad})
    assert r.status_code == 422
    assert {(p["index"], p["field"]) for p in r.json()["problems"]} == {
        (1, "lead_id"), (2, "outcome"), (3, "at"), (4, "amount"),
    }  # fmt: skip
    with a.client.app.state.service.db.read() as conn:
        assert conn.execute(select(Outcome.id)).first() is None
    assert a.post("/api/v1/outcomes", "read", json={"outcomes": [won]}).status_code == 403
    lost = {"lead_id": "L2", "outcome": "lost", "at": 1764000000}
    r = a.post("/api/v1/outcomes", "ingest", json={"outcomes": [won, lost, won]})
    assert r.json() == {"accepted": 2, "duplicates": [2]}
    r = a.post("/api/v1/outcomes", "ingest", json={"outcomes": [won]})
    assert r.json() == {"accepted": 0, "duplicates": [0]}
    causes = [e["cause"] for e in a.get("/api/v1/leads/L1/history").json()["data"]]
    assert {"kind": "outcome", "outcome": "won", "amount": 1200.0} in causes


def test_scores_as_they_were_at_mql_and_at_the_outcome(service):
    a = service
    event(a, "L1")
    at_mql = a.get("/api/v1/leads/L1").json()["scores"]["b2b-saas"]
    a.post(
        "/api/v1/outcomes",
        "ingest",
        json={"outcomes": [{"lead_id": "L1", "outcome": "open", "at": time.time()}]},
    )
    event(a, "L1", "unsubscribe")  # the score falls afterwards; the snapshots do not move
    later = a.get("/api/v1/leads/L1").json()["scores"]["b2b-saas"]
    assert later["score"] < at_mql["score"] - 10
    a.post("/api/v1/leads/L1/recycle")
    event(a, "L1", "form_submit")  # qualifies again: a second MQL moment
    kept = snapshots(a, "L1")
    assert [s["kind"] for s in kept] == ["mql", "outcome", "mql"]
    assert kept[0]["score"] == pytest.approx(at_mql["score"], abs=0.01)
    assert kept[0]["stage"] == "mql" and kept[0]["grade"] == "A"
    assert kept[1]["score"] == pytest.approx(at_mql["score"], abs=0.01)
    assert kept[2]["score"] < kept[0]["score"]
    # Erasure: nothing of it remains.
    a.post("/api/v1/leads/L1/feedback", "read", json={"verdict": "accepted"})
    assert a.client.delete("/api/v1/leads/L1", headers=a.as_("admin")).status_code == 204
    assert snapshots(a, "L1") == []
    with a.client.app.state.service.db.read() as conn:
        for table in (Feedback, Outcome):
            assert conn.execute(select(table.id).where(table.lead_id == "L1")).first() is None


def test_import_outcomes_from_a_file(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/service.db"
    with api(url) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        leads = [{"lead_id": x, "attributes": VP} for x in ("L1", "L2")]
        a.post("/api/v1/leads", "ingest", json={"leads": leads})

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "leadscore", "import", *args, "--db", url]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)

    (tmp_path / "deals.csv").write_text(
        "lead_id,outcome,at,amount\nL1,Won,2026-11-20T10:00:00Z,1200\nL2,lost,1764000000,\n"
        "GONE,won,2026-11-01,\n"
    )
    done = run("--outcomes", "deals.csv")
    assert done.returncode == 0, done.stderr
    assert "imported 2 outcomes" in done.stdout and "GONE" in done.stderr
    assert "imported 0 outcomes (2 stored before" in run("--outcomes", "deals.csv").stdout
    for text, where in [
        ("lead_id,outcome,at\nL1,maybe,2026-11-20\n", "row 1 column 'outcome'"),
        ("lead_id,outcome,at\nL1,won,2026-11-20\nL2,won,someday\n", "row 2 column 'at'"),
        ("lead_id,outcome,at,amount\nL1,won,2026-11-20,-3\n", "row 1 column 'amount'"),
        ("lead_id,result,at\nL1,won,2026-11-20\n", "no column 'outcome'"),
    ]:
        (tmp_path / "bad.csv").write_text(text)
        done = run("--outcomes", "bad.csv")
        assert done.returncode == 2 and where in done.stderr, (text, done.stderr)
        assert "Traceback" not in done.stderr
    assert run().returncode == 2
    with api(url) as a:
        with a.client.app.state.service.db.read() as conn:
            rows = conn.execute(
                select(Outcome.lead_id, Outcome.outcome, Outcome.amount, Outcome.source)
            ).all()
        assert sorted(tuple(r) for r in rows) == [
            ("L1", "won", 1200.0, "import"),
            ("L2", "lost", None, "import"),
        ]


def test_loop_summary_matches_a_hand_count(service):
    """Twelve MQLs with verdicts and outcomes set by hand; every number of the summary
    counted again here from the same rows."""
    from leadscore.service import loop_review

    a = service
    titles = {"VP Sales": "A", "Analyst": "B"}
    leads = []
    for i in range(12):
        title = "VP Sales" if i % 3 else "Analyst"
        leads.append({"lead_id": f"M{i}", "attributes": {**VP, "title": title}})
    assert a.post("/api/v1/leads", "ingest", json={"leads": leads}).status_code == 200
    now = time.time()
    for i in range(12):  # demo request, plus i pricing-page days: scores spread in bands
        body = {"events": [{"lead_id": f"M{i}", "event": "demo_request", "timestamp": now}] + [
            {"lead_id": f"M{i}", "event": "page_view", "timestamp": now - 86400 * (d + 1),
             "properties": {"url": "/pricing"}} for d in range(i % 5)]}  # fmt: skip
        assert a.post("/api/v1/events", "ingest", json=body).status_code == 200
    plan = {  # lead: (verdict, reason, outcome)
        0: ("accepted", None, "won"), 1: ("accepted", None, "won"), 2: ("accepted", None, "lost"),
        3: ("rejected", "no budget", None), 4: ("rejected", "bad fit", "lost"),
        5: ("accepted", None, None), 6: ("rejected", "no budget", None),
        7: ("accepted", None, "won"), 8: (None, None, None), 9: ("accepted", None, "won"),
        10: ("rejected", "spam", None), 11: (None, None, "won"),
    }  # fmt: skip
    for i, (verdict, reason, outcome) in plan.items():
        if verdict:
            body = {"verdict": verdict, "reason": reason}
            assert a.post(f"/api/v1/leads/M{i}/feedback", "read", json=body).status_code == 201
        if outcome:
            body = {"outcomes": [{"lead_id": f"M{i}", "outcome": outcome, "at": time.time()}]}
            assert a.post("/api/v1/outcomes", "ingest", json=body).status_code == 200
    with a.client.app.state.service.db.read() as conn:
        found = loop_review.moments(conn, "b2b-saas", since=now - 60)
    assert sorted(m.lead_id for m in found) == sorted(f"M{i}" for i in range(12))
    got = loop_review.summary(found)
    score = {m.lead_id: m.score for m in found}
    accepted = [i for i, p in plan.items() if p[0] == "accepted"]
    rejected = [i for i, p in plan.items() if p[0] == "rejected"]
    assert (got["mqls"], got["accepted"], got["rejected"], got["unjudged"]) == (12, 6, 4, 2)
    assert got["acceptance_rate"] == pytest.approx(6 / 10)
    for row in got["by_band"]:
        inside = [i for i in plan if row["key"] <= score[f"M{i}"] < row["key"] + 10]
        assert row["mqls"] == len(inside)
        assert row["accepted"] == len([i for i in inside if i in accepted])
        assert row["rejected"] == len([i for i in inside if i in rejected])
    assert sum(r["mqls"] for r in got["by_band"]) == 12
    by_grade = {r["key"]: r for r in got["by_grade"]}
    for grade in ("A", "B"):
        inside = [i for i in plan if titles[leads[i]["attributes"]["title"]] == grade]
        assert by_grade[grade]["mqls"] == len(inside)
        assert by_grade[grade]["accepted"] == len([i for i in inside if i in accepted])
    rules = {(r["rule"], r["reason"]): r["count"] for r in got["rejections_by_rule"]}
    assert rules[("demo request", "no budget")] == 2 and rules[("demo request", "spam")] == 1
    assert rules[("demo request", "bad fit")] == 1
    assert got["accepted_lost"] == ["M2"]
    demo = next(r for r in got["rules_by_rejection"] if r["rule"] == "demo request")
    assert (demo["judged"], demo["rejected"]) == (10, 4) and demo["lift"] == pytest.approx(1)
    won = sorted(score[f"M{i}"] for i in (0, 1, 7, 9))
    assert got["accepted_won"] == 4
    bar = got["recommended_threshold"]
    assert bar["score"] == won[0] and bar["keeps_won"] == 4 and bar["of_won"] == 4
    assert bar["mqls_cut"] == sum(s < won[0] for s in score.values())
