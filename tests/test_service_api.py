"""The service's routes as SPEC section 4 describes them, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from leadscore.service import background
from leadscore.service.store.tables import (
    AnonymousEvent,
    Event,
    Lead,
    LedgerEntry,
    Score,
    Visitor,
)
from tests.service_support import EXAMPLE_MODEL, api, fresh_postgres

MODEL = EXAMPLE_MODEL.read_text()
FIT = {
    "title": "VP Sales",
    "industry": "software",
    "employees": 300,
    "country": "US",
    "email_domain": "acme.io",
}  # fmt: skip  -- fit 55, grade A


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/service.db"
    return fresh_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def service(db_url):
    with api(db_url) as s:
        s.add_model(MODEL)
        yield s


def event(lead: str, name: str, eid: str, ago_days: float = 0.01, **props) -> dict:
    return {
        "event_id": eid,
        "lead_id": lead,
        "event": name,
        "timestamp": time.time() - ago_days * 86400,
        "properties": props,
    }


def score_of(service, lead: str) -> dict:
    r = service.get(f"/api/v1/leads/{lead}")
    assert r.status_code == 200, r.text
    return r.json()["scores"]["b2b-saas"]


def test_upsert_sets_keeps_and_clears_attributes(service):
    r = service.post(
        "/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]}
    )
    assert r.status_code == 200, r.text
    answered = r.json()["leads"][0]["scores"]["b2b-saas"]
    assert (answered["fit_score"], answered["grade"]) == (55.0, "A")
    r = service.post(
        "/api/v1/leads",
        "ingest",
        json={"leads": [{"lead_id": "L1", "attributes": {"country": None, "plan": "pro"}}]},
    )
    lead = service.get("/api/v1/leads/L1").json()
    assert lead["attributes"] == {**{k: v for k, v in FIT.items() if k != "country"}, "plan": "pro"}
    s = lead["scores"]["b2b-saas"]
    assert s["fit_score"] == 55 - 5 - 5  # core market gone, "no country" fires
    assert {r["rule"] for r in s["reasons"]} >= {"no country", "senior title"}
    assert s["version"] == "1" and s["lifecycle"] == {"stage": "open", "mql_since": None}


def test_events_count_once_and_duplicates_are_listed(service):
    service.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]})
    batch = [event("L1", "page_view", "e1", url="/pricing"), event("L1", "email_open", "e2")]
    r = service.post("/api/v1/events", "ingest", json={"events": batch})
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["accepted"], first["duplicates"]) == (2, [])
    before = first["leads"][0]["scores"]["b2b-saas"]["engagement_score"]
    r = service.post("/api/v1/events", "ingest", json={"events": [*batch, batch[0]]})
    again = r.json()
    assert (again["accepted"], again["duplicates"]) == (0, ["e1", "e2", "e1"])
    assert score_of(service, "L1")["engagement_score"] == pytest.approx(before, abs=1e-6)
    # No event_id: the server makes one, and the event counts.
    r = service.post(
        "/api/v1/events",
        "ingest",
        json={
            "events": [{"lead_id": "L1", "event": "email_open", "timestamp": "2026-01-01T00:00:00"}]
        },
    )
    assert r.json()["accepted"] == 1
    with service.client.app.state.service.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == 3


def test_event_for_unknown_lead_is_refused_and_nothing_is_stored(service):
    service.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]})
    r = service.post(
        "/api/v1/events",
        "ingest",
        json={
            "events": [
                event("L1", "email_open", "ok1"),
                event("nobody", "email_open", "x1"),
                {"lead_id": "L1", "event": "email_open", "timestamp": "yesterday"},
            ]
        },
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problems = r.json()["problems"]
    assert {(p["index"], p["field"]) for p in problems} == {(1, "lead_id"), (2, "timestamp")}
    with service.client.app.state.service.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == 0


def test_unknown_leads_are_made_when_the_setting_says_so(db_url):
    with api(db_url, create_unknown_leads=True) as service:
        service.add_model(MODEL)
        r = service.post(
            "/api/v1/events", "ingest", json={"events": [event("new", "demo_request", "d1")]}
        )
        assert r.status_code == 200, r.text
        assert score_of(service, "new")["engagement_score"] == pytest.approx(50, abs=0.01)


def test_lifecycle_mql_stays_until_recycled_and_history_says_why(service):
    service.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]})
    r = service.post(
        "/api/v1/events", "ingest", json={"events": [event("L1", "demo_request", "d1")]}
    )
    s = r.json()["leads"][0]["scores"]["b2b-saas"]
    assert s["mql"] and s["lifecycle"]["stage"] == "mql" and s["lifecycle"]["mql_since"]
    service.post(
        "/api/v1/events",
        "ingest",
        json={"events": [event("L1", "unsubscribe", "u1"), event("L1", "email_bounce", "b1")]},
    )
    s = score_of(service, "L1")
    assert not s["mql"] and s["lifecycle"]["stage"] == "mql"  # stays MQL below the threshold
    r = service.post("/api/v1/leads/L1/recycle")
    assert r.status_code == 200, r.text
    assert r.json() == {"stage": "recycled", "mql_since": None}
    service.post(
        "/api/v1/events",
        "ingest",
        json={
            "events": [event("L1", "webinar_attended", "w1"), event("L1", "webinar_attended", "w2")]
        },
    )
    s = score_of(service, "L1")
    assert s["mql"] and s["lifecycle"]["stage"] == "mql"  # qualified again after the recycle
    history = service.get("/api/v1/leads/L1/history").json()["data"]
    kinds = [h["cause"]["kind"] for h in history]
    assert kinds[0] == "attributes" and "recycle" in kinds and kinds[-1] == "event"
    assert [h["stage"] for h in history if h["cause"]["kind"] == "recycle"] == ["recycled"]
    assert history[1]["cause"] == {"kind": "event", "event_id": "d1"}
    assert [h["stage"] for h in history].count("recycled") == 1


def test_list_pages_cover_every_lead_once_in_score_order(service):
    leads = [
        {
            "lead_id": f"L{i:02d}",
            "attributes": {**FIT, "employees": 10 + 100 * (i % 7), "email_domain": f"d{i % 3}.com"},
        }
        for i in range(30)
    ]
    service.post("/api/v1/leads", "ingest", json={"leads": leads})
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = service.get("/api/v1/leads", params=params).json()
        seen += [(row["score"], row["lead_id"]) for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 30 and len({x[1] for x in seen}) == 30
    assert seen == sorted(seen, reverse=True)  # by score, ties by lead id, last first
    grade_b = service.get("/api/v1/leads", params={"grade": "B", "limit": 100}).json()["data"]
    assert len(grade_b) == 5 and all(r["grade"] == "B" for r in grade_b)
    account = service.get("/api/v1/leads", params={"account": "D1.com", "limit": 100}).json()[
        "data"
    ]
    assert len(account) == 10 and all(r["account"] == "d1.com" for r in account)
    found = service.get("/api/v1/leads", params={"q": "l07"}).json()["data"]
    assert [r["lead_id"] for r in found] == ["L07"]
    assert service.get("/api/v1/leads", params={"cursor": "nonsense"}).status_code == 422
    ascending = service.get("/api/v1/leads", params={"sort": "score", "limit": 3}).json()["data"]
    assert [r["score"] for r in ascending] == sorted(x[0] for x in seen)[:3]


def test_accounts_aggregate_as_the_model_says(service):
    leads = [
        {
            "lead_id": f"L{i}",
            "attributes": {**FIT, "employees": 100 + i * 1000, "email_domain": "acme.io"},
        }
        for i in range(5)
    ]
    r = service.post("/api/v1/leads", "ingest", json={"leads": leads})
    scores = sorted((x["scores"]["b2b-saas"]["score"] for x in r.json()["leads"]), reverse=True)
    got = service.get("/api/v1/accounts").json()["data"]
    assert got[0]["account"] == "acme.io" and got[0]["leads"] == 5
    assert got[0]["score"] == pytest.approx(sum(scores[:3]) / 3)  # top_k_mean, k = 3
    assert service.get("/api/v1/accounts/ACME.io").json()["score"] == got[0]["score"]
    assert service.get("/api/v1/accounts/nobody.com").status_code == 404


def test_erasure_leaves_nothing(service):
    service.post(
        "/api/v1/leads",
        "ingest",
        json={
            "leads": [
                {"lead_id": "gone", "attributes": FIT},
                {"lead_id": "kept", "attributes": FIT},
            ]
        },
    )
    service.post(
        "/api/v1/events",
        "ingest",
        json={"events": [event("gone", "email_open", "g1"), event("kept", "email_open", "k1")]},
    )
    seg = {"type": "track", "anonymousId": "anon-1", "event": "email_open", "messageId": "a1"}
    service.post(
        "/segment/v1/batch",
        "ingest",
        json={
            "batch": [
                seg,
                {"type": "identify", "anonymousId": "anon-1", "userId": "gone", "traits": {}},
            ]
        },
    )
    assert (
        service.client.delete("/api/v1/leads/gone", headers=service.as_("read")).status_code == 403
    )
    r = service.client.delete("/api/v1/leads/gone", headers=service.as_("admin"))
    assert r.status_code == 204 and r.content == b""
    assert service.get("/api/v1/leads/gone").status_code == 404
    assert service.get("/api/v1/leads/gone/history").status_code == 404
    with service.client.app.state.service.db.read() as conn:
        for table, column in (
            (Lead, Lead.lead_id),
            (Event, Event.lead_id),
            (Score, Score.lead_id),
            (LedgerEntry, LedgerEntry.lead_id),
            (Visitor, Visitor.lead_id),
        ):
            assert conn.execute(select(func.count()).where(column == "gone")).scalar_one() == 0, (
                table
            )
        assert conn.execute(select(func.count()).select_from(AnonymousEvent)).scalar_one() == 0
        assert conn.execute(select(func.count()).where(Lead.lead_id == "kept")).scalar_one() == 1
    assert (
        service.client.delete("/api/v1/leads/gone", headers=service.as_("admin")).status_code == 404
    )


def test_models_versions_conflicts_and_errors(service):
    r = service.post("/api/v1/models", content=MODEL, headers={"content-type": "application/yaml"})
    assert r.status_code == 409 and "version" in r.json()["detail"]
    bad = MODEL.replace("points: 15\n", "points: lots\n", 1).replace("version: 1", "version: 2")
    r = service.post("/api/v1/models", content=bad, headers={"content-type": "application/yaml"})
    assert r.status_code == 422
    (problem,) = r.json()["problems"]
    assert problem["field"] == "fit.rules[0].points" and problem["reason"].startswith("line 32:")
    listed = service.get("/api/v1/models").json()["data"]
    assert listed == [{"name": "b2b-saas", "active_version": "1", "versions": ["1"]}]
    assert service.get("/api/v1/models/b2b-saas/versions/1").text == MODEL
    assert service.get("/api/v1/models/b2b-saas/versions/9").status_code == 404
    assert service.get("/api/v1/models/nope/versions").status_code == 404


def test_activation_switches_versions_and_rollback_restores(service):
    leads = [{"lead_id": f"L{i}", "attributes": FIT} for i in range(20)]
    service.post("/api/v1/leads", "ingest", json={"leads": leads})
    before = service.get("/api/v1/leads", params={"limit": 100}).json()["data"]
    v2 = MODEL.replace("version: 1", "version: 2").replace("points: 20\n", "points: 35\n", 1)
    _, version = service.add_model(v2, activate=False)
    assert score_of(service, "L1")["version"] == "1"  # not active until activated
    job = service.activate("b2b-saas", version)
    assert (job["done"], job["total"]) == (20, 20)
    after = service.get("/api/v1/leads", params={"limit": 100}).json()["data"]
    assert {r["version"] for r in after} == {"2"}
    assert all(
        a["score"] == pytest.approx(b["score"] + 15) for a, b in zip(after, before, strict=True)
    )
    assert score_of(service, "L1")["version"] == "2"
    service.activate("b2b-saas", "1")  # rollback: activate the earlier version
    restored = service.get("/api/v1/leads", params={"limit": 100}).json()["data"]
    assert [(r["lead_id"], r["score"], r["version"]) for r in restored] == [
        (r["lead_id"], pytest.approx(r["score"]), "1") for r in before
    ]
    history = service.get("/api/v1/leads/L1/history").json()["data"]
    assert [h["cause"]["kind"] for h in history][-2:] == ["activation", "activation"]


def test_several_models_score_each_lead(service):
    other = MODEL.replace("model: b2b-saas", "model: enterprise").replace(
        "points: 20\n", "points: 1\n", 1
    )
    service.add_model(other)
    service.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]})
    scores = service.get("/api/v1/leads/L1").json()["scores"]
    assert set(scores) == {"b2b-saas", "enterprise"}
    assert scores["b2b-saas"]["fit_score"] - scores["enterprise"]["fit_score"] == 19
    only = service.get("/api/v1/leads/L1", params={"model": "enterprise"}).json()["scores"]
    assert set(only) == {"enterprise"}
    assert service.get("/api/v1/leads").status_code == 422  # which model's list?
    assert service.get("/api/v1/leads", params={"model": "enterprise"}).status_code == 200
    assert service.get("/api/v1/leads/L1", params={"model": "nope"}).status_code == 404


def test_sweep_rewrites_scores_that_time_changed(service):
    service.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]})
    # An event 61 days ago: inactive for 60 days, and the pricing visit half decayed.
    service.post(
        "/api/v1/events",
        "ingest",
        json={"events": [event("L1", "page_view", "p1", ago_days=59.9999, url="/pricing")]},
    )
    stored = service.get("/api/v1/leads").json()["data"][0]
    app_service = service.client.app.state.service
    with app_service.db.write() as conn:  # an hour older: what an hour passing would do
        conn.execute(Event.__table__.update().values(ts=Event.ts - 3600))
        conn.execute(Lead.__table__.update().values(last_event_at=Lead.last_event_at - 3600))
    background.sweep(app_service.db, app_service.cache)
    swept = service.get("/api/v1/leads").json()["data"][0]
    now = score_of(service, "L1")
    assert swept["score"] < stored["score"] - 9  # inactive 60 days: -10, and more decay
    assert swept["score"] == pytest.approx(now["score"], abs=0.01)
    assert service.get("/api/v1/leads/L1/history").json()["data"][-1]["cause"] == {"kind": "sweep"}


def test_health_and_metrics(service):
    assert service.client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    service.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": FIT}]})
    service.post("/api/v1/events", "ingest", json={"events": [event("L1", "email_open", "m1")] * 2})
    text = service.get("/metrics").text
    assert 'leadscore_requests_total{method="POST",route="/api/v1/events",status="200"}' in text
    assert "leadscore_event_duplicates_total" in text and "leadscore_request_seconds_bucket" in text
    assert service.client.get("/metrics").status_code == 401
