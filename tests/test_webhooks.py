"""Webhooks in process, over real SQLite and PostgreSQL, to real receivers on 127.0.0.1:
subscriptions, signatures (checked with the `standardwebhooks` package), what each
change sends (lifecycle, grade, score with its threshold, the sweep), the outbox in the
change's transaction, 410, redelivery, erasure."""

from __future__ import annotations

import base64
import itertools
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from leadscore.service.background import sweep
from leadscore.service.delivery import prune, signature
from leadscore.service.store.tables import WebhookAttempt, WebhookMessage
from tests.service_support import EXAMPLE_MODEL, Api, api, fresh_postgres
from tests.webhook_receiver import Receiver

FAST = {"webhook_poll_seconds": 0.05, "webhook_retry_seconds": (0.2, 0.2, 0.2)}
# Fit 55 (grade A): below the MQL threshold of 80 until a demo request (+50).
VP = {"title": "VP Sales", "industry": "software", "employees": 500, "country": "US"}
ALL = ["lead.mql", "lead.grade_changed", "lead.score_changed", "lead.recycled"]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/service.db"
    return fresh_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def receiver():
    rx = Receiver().start()
    yield rx
    rx.stop()


def subscribe(a: Api, url: str, events=ALL, **more) -> dict:
    r = a.post("/api/v1/webhooks", json={"url": url, "events": events, **more})
    assert r.status_code == 201, r.text
    return r.json()


def lead(a: Api, lead_id: str, **attributes) -> None:
    r = a.post(
        "/api/v1/leads",
        json={"leads": [{"lead_id": lead_id, "attributes": {**VP, **attributes}}]},
        scope="ingest",
    )
    assert r.status_code == 200, r.text


def event(a: Api, lead_id: str, name: str = "demo_request", at: float | None = None, **props):
    r = a.post(
        "/api/v1/events",
        json={
            "events": [
                {
                    "lead_id": lead_id,
                    "event": name,
                    "timestamp": at or time.time(),
                    "properties": props,
                }
            ]
        },
        scope="ingest",
    )
    assert r.status_code == 200, r.text


def messages(a: Api, hook: dict, **params) -> list[dict]:
    r = a.get(f"/api/v1/webhooks/{hook['id']}/messages", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_subscription_secret_and_signature(db_url, receiver, tmp_path):
    with api(db_url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = subscribe(a, receiver.url, ["lead.mql"])
        secret = hook["secret"]
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) >= 24
        # Shown once: no GET answer holds it.
        assert secret not in a.get("/api/v1/webhooks").text
        assert secret not in a.get(f"/api/v1/webhooks/{hook['id']}").text
        lead(a, "L1")
        event(a, "L1")
        receiver.wait(lambda rx: rx.received)
        got = receiver.received[0]
        body = Verifier(secret).verify(got.body, got.headers)
        assert body["type"] == "lead.mql" and body["data"]["lead_id"] == "L1"
        assert body["data"]["lifecycle"]["stage"] == "mql"
        assert body["data"]["previous"]["stage"] == "open"
        assert set(body) == {"type", "timestamp", "data"}
        for field in (
            "score",
            "fit_score",
            "engagement_score",
            "grade",
            "label",
            "mql",
            "probability",
            "reasons",
            "version",
            "model",
        ):
            assert field in body["data"]
        # A tampered body, another secret, a stale timestamp: refused.
        with pytest.raises(WebhookVerificationError):
            Verifier(secret).verify(got.body.replace(b'"L1"', b'"L2"'), got.headers)
        with pytest.raises(WebhookVerificationError):
            Verifier("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got.body, got.headers)
        old = int(time.time()) - 3600
        stale = {
            **got.headers,
            "webhook-timestamp": str(old),
            "webhook-signature": signature(secret, got.id, old, got.body.decode()),
        }
        with pytest.raises(WebhookVerificationError):
            Verifier(secret).verify(got.body, stale)


def test_subscriptions_refuse_bad_input_and_delete(db_url, receiver):
    with api(db_url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        for body, field in [
            ({"url": "ftp://example.test/x", "events": ["lead.mql"]}, "url"),
            ({"url": "javascript:alert(1)", "events": ["lead.mql"]}, "url"),
            ({"url": "http://", "events": ["lead.mql"]}, "url"),
            ({"url": receiver.url, "events": ["lead.won"]}, "events"),
            ({"url": receiver.url, "events": []}, "events"),
            ({"url": receiver.url, "events": ["lead.mql"], "model": "nope"}, "model"),
            (
                {"url": receiver.url, "events": ["lead.score_changed"], "min_score_change": -1},
                "min_score_change",
            ),
            ({"events": ["lead.mql"]}, "url"),
        ]:
            r = a.post("/api/v1/webhooks", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert field in {p["field"] for p in r.json()["problems"]}, (body, r.json())
        # Every problem at once, not the first.
        r = a.post("/api/v1/webhooks", json={"url": "htps://x.test", "events": ["lead.won"]})
        assert {p["field"] for p in r.json()["problems"]} == {"url", "events"}
        assert (
            a.post(
                "/api/v1/webhooks", content=b"{nope", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
        # A read key lists but cannot subscribe.
        assert (
            a.post(
                "/api/v1/webhooks", scope="read", json={"url": receiver.url, "events": ["lead.mql"]}
            ).status_code
            == 403
        )
        hook = subscribe(a, receiver.url, ["lead.score_changed"], model="b2b-saas")
        assert hook["min_score_change"] == 10 and hook["model"] == "b2b-saas"
        assert [h["id"] for h in a.get("/api/v1/webhooks").json()["data"]] == [hook["id"]]
        r = a.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=a.as_("admin"))
        assert r.status_code == 204
        assert a.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
        assert a.get(f"/api/v1/webhooks/{hook['id']}/messages").status_code == 404


def test_lifecycle_messages(db_url, receiver):
    """mql once, not again while it stays qualified, again after a recycle; grade changes;
    score changes measured from the score last sent, so that small steps add up."""
    with api(db_url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = subscribe(a, receiver.url, ALL, min_score_change=5)
        lead(a, "L1")
        assert messages(a, hook) == []  # a lead's first score is not a change
        now = time.time()
        event(a, "L1")  # 35 -> 105: mql, score_changed
        for day in range(3):  # more activity while qualified: no second mql
            event(a, "L1", "email_click", now - 86400 * (day + 1))
        a.post("/api/v1/leads/L1/recycle")
        event(a, "L1", "form_submit")  # new activity after the recycle: mql again
        lead(a, "L1", employees=10)  # fit 55 -> 30, grade A -> B: grade_changed
        receiver.wait(lambda rx: len(rx.received) >= 8)
        time.sleep(0.3)
        kinds = [r.json["type"] for r in receiver.received]
        assert kinds.count("lead.mql") == 2, kinds
        assert kinds.count("lead.recycled") == 1
        assert kinds.count("lead.grade_changed") == 1
        graded = receiver.of_type("lead.grade_changed")[0].json["data"]
        assert (graded["previous"]["grade"], graded["grade"]) == ("A", "B")
        # Three clicks of about 3 points: one message once they add up past 5, not three.
        steps = [r.json["data"] for r in receiver.of_type("lead.score_changed")]
        for s in steps:
            assert abs(s["score"] - s["previous"]["score"]) >= 5
        for before, after in itertools.pairwise(steps):
            assert after["previous"]["score"] == pytest.approx(before["score"])
        clicks = [s for s in steps if s["cause"]["kind"] == "event"]
        assert 2 <= len(clicks) <= 4, kinds
        # In order, per lead: each message's seq after the one before it.
        stored = messages(a, hook)
        assert [m["id"] for m in reversed(stored)] == [r.id for r in receiver.received]
        assert all(m["state"] == "delivered" for m in stored)
        assert all(m["attempts"][-1]["outcome"] == "delivered" for m in stored)


def test_the_sweep_sends_what_time_changes(db_url, receiver):
    """A lead whose last event turns 60 days old: the sweep's -10 of inactivity is a
    score change (and no mql, no grade change)."""
    with api(db_url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        lead(a, "L1")
        event(a, "L1", "email_open", time.time() - 60 * 86400 + 1.5)
        hook = subscribe(a, receiver.url, ALL, min_score_change=5)
        time.sleep(2)
        service = a.client.app.state.service
        sweep(service.db, service.cache)
        receiver.wait(lambda rx: rx.received)
        time.sleep(0.3)
        [got] = receiver.received
        data = got.json["data"]
        assert got.json["type"] == "lead.score_changed"
        assert data["cause"] == {"kind": "sweep"}
        assert data["score"] == pytest.approx(data["previous"]["score"] - 10, abs=0.01)
        assert any(r["rule"] == "inactive 60 days" for r in data["reasons"])
        assert len(messages(a, hook)) == 1


def test_a_change_that_does_not_commit_leaves_no_message(tmp_path, receiver):
    """The outbox is written in the change's transaction: when that transaction fails
    (here a real SQLite trigger refusing one lead's message), neither the new score nor
    any message of the request is stored."""
    url = f"sqlite:///{tmp_path}/service.db"
    with api(url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = subscribe(a, receiver.url, ["lead.mql"])
        for lead_id in ("OK", "POISON"):
            lead(a, lead_id)
        db = a.client.app.state.service.db
        with db.write() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON webhook_messages "
                    "WHEN NEW.lead_id = 'POISON' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        # TestClient raises what the server would answer with a 500.
        with pytest.raises(IntegrityError, match="refused"):
            a.post(
                "/api/v1/events",
                json={
                    "events": [
                        {"lead_id": x, "event": "demo_request", "timestamp": time.time()}
                        for x in ("OK", "POISON")
                    ]
                },
                scope="ingest",
            )
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(WebhookMessage)).scalar_one() == 0
        for x in ("OK", "POISON"):
            assert a.get(f"/api/v1/leads/{x}").json()["scores"]["b2b-saas"]["lifecycle"] == {
                "stage": "open",
                "mql_since": None,
            }
        with db.write() as conn:
            conn.execute(text("DROP TRIGGER poison"))
        event(a, "OK")
        receiver.wait(lambda rx: rx.received)
        assert [m["lead_id"] for m in messages(a, hook)] == ["OK"]


def test_gone_disables_and_redeliver_keeps_the_id(db_url, receiver):
    with api(db_url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = subscribe(a, receiver.url, ["lead.mql"])
        lead(a, "L1")
        event(a, "L1")
        receiver.wait(lambda rx: rx.received)
        first = receiver.received[0].id
        r = a.post(f"/api/v1/webhooks/{hook['id']}/messages/{first}/redeliver")
        assert r.status_code == 202 and r.json()["id"] == first
        assert (
            a.post(
                f"/api/v1/webhooks/{hook['id']}/messages/{first}/redeliver", scope="read"
            ).status_code
            == 403
        )
        assert (
            a.post(f"/api/v1/webhooks/{hook['id']}/messages/msg_nope/redeliver").status_code == 404
        )
        receiver.wait(lambda rx: len(rx.received) == 2)
        assert receiver.received[1].id == first
        assert receiver.received[1].body == receiver.received[0].body
        # 410: the subscription is disabled, nothing more is sent.
        receiver.status = 410
        lead(a, "L2")
        event(a, "L2")
        receiver.wait(lambda rx: len(rx.received) == 3)
        time.sleep(0.5)
        got = a.get(f"/api/v1/webhooks/{hook['id']}").json()
        assert got["state"] == "disabled" and "410" in got["disabled_reason"]
        lead(a, "L3")
        event(a, "L3")
        time.sleep(0.5)
        assert len(receiver.received) == 3
        [gone] = messages(a, hook, lead_id="L2")
        assert gone["state"] == "failed" and gone["attempts"][0]["outcome"] == "disabled"
        assert (
            a.post(f"/api/v1/webhooks/{hook['id']}/messages/{first}/redeliver").status_code == 409
        )


def test_retries_follow_the_schedule_and_honour_retry_after(db_url, receiver):
    with api(db_url, webhook_poll_seconds=0.05, webhook_retry_seconds=(0.2, 0.2, 0.2)) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = subscribe(a, receiver.url, ["lead.mql"])
        receiver.status = 500
        lead(a, "L1")
        event(a, "L1")
        receiver.wait(lambda rx: len(rx.received) == 4, 10)  # the first try and three more
        time.sleep(0.6)
        assert len(receiver.received) == 4 and len(receiver.ids()) == 1
        [m] = messages(a, hook)
        assert m["state"] == "failed" and m["tries"] == 4
        assert [x["outcome"] for x in m["attempts"]] == ["retry"] * 3 + ["failed"]
        assert all(
            x["status"] == 500 and x["response"] == "receiver says no" for x in m["attempts"]
        )
        gaps = [b.at - a_.at for a_, b in itertools.pairwise(receiver.received)]
        assert all(g >= 0.15 for g in gaps), gaps
        # Retry-After: 2 s is waited for, though the schedule says 0.2.
        receiver.retry_after = "2"
        lead(a, "L2")
        event(a, "L2")
        receiver.wait(lambda rx: len(rx.received) == 5)
        time.sleep(1.2)
        assert len(receiver.received) == 5
        receiver.status, receiver.retry_after = 200, None
        receiver.wait(lambda rx: len(rx.received) == 6, 5)
        assert receiver.received[5].at - receiver.received[4].at >= 1.9


def test_erasure_removes_the_leads_messages(db_url, receiver):
    with api(db_url, webhook_poll_seconds=0.05, webhook_retry_seconds=(0.3,) * 50) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        receiver.stop()  # nothing can be delivered: the messages wait
        hook = subscribe(a, receiver.url, ["lead.mql"])
        for x in ("L1", "L2"):
            lead(a, x)
            event(a, x)
        assert {m["lead_id"] for m in messages(a, hook)} == {"L1", "L2"}
        assert a.client.delete("/api/v1/leads/L1", headers=a.as_("admin")).status_code == 204
        assert {m["lead_id"] for m in messages(a, hook)} == {"L2"}
        receiver.start()
        receiver.wait(lambda rx: rx.received, 10)
        time.sleep(0.5)
        assert {r.json["data"]["lead_id"] for r in receiver.received} == {"L2"}
        depth = [
            line
            for line in a.get("/metrics").text.splitlines()
            if line.startswith("leadscore_webhook_outbox_depth")
        ]
        assert depth == ["leadscore_webhook_outbox_depth 0.0"]


def test_sent_messages_are_pruned_after_their_keep(db_url, receiver):
    with api(db_url, **FAST) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = subscribe(a, receiver.url, ["lead.mql"])
        receiver.status = 500
        lead(a, "FAILS")
        event(a, "FAILS")
        receiver.wait(lambda rx: len(rx.received) == 4)
        receiver.status = 200
        for x in ("OLD", "NEW"):
            lead(a, x)
            event(a, x)
        receiver.wait(lambda rx: len(rx.received) == 6)
        time.sleep(0.3)
        db = a.client.app.state.service.db
        with db.write() as conn:  # two of them a long time ago
            conn.execute(
                WebhookMessage.__table__.update()
                .where(WebhookMessage.lead_id.in_(["FAILS", "OLD"]))
                .values(created_at=time.time() - 40 * 86400)
            )
        assert prune(db, time.time() - 30 * 86400) == 2
        assert [m["lead_id"] for m in messages(a, hook)] == ["NEW"]
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(WebhookAttempt)).scalar_one() == 1
