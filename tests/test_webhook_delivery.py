"""Webhook delivery by real `leadscore serve` processes to real receivers on 127.0.0.1:
a receiver down then failing then back, a SIGKILL of the service with messages pending,
two processes over one PostgreSQL sharing a backlog, a slow receiver beside a fast one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, insert, select

from leadscore.service.outbox import message_id
from leadscore.service.store.database import Database
from leadscore.service.store.tables import WebhookAttempt, WebhookMessage
from tests.service_support import EXAMPLE_MODEL, Server, auth, fresh_postgres, make_keys, server
from tests.webhook_receiver import Receiver

VP = {"title": "VP Sales", "industry": "software", "employees": 500, "country": "US"}
# Tries every 0.3 s or so, for long enough to outlast the outages below.
SHORT = {
    "LEADSCORE_WEBHOOK_RETRY_SECONDS": ",".join(["0.3"] * 60),
    "LEADSCORE_WEBHOOK_POLL_SECONDS": "0.1",
}


def url_for(backend: str, tmp_path: Path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/service.db"
    return fresh_postgres(request.getfixturevalue("postgres_url"))


def setup_model(s: Server, key: str) -> None:
    h = auth(key)
    r = httpx.post(
        s.url + "/api/v1/models",
        content=EXAMPLE_MODEL.read_text(),
        headers={**h, "content-type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    job = httpx.post(s.url + "/api/v1/models/b2b-saas/versions/1/activate", headers=h).json()["job"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{s.url}/api/v1/jobs/{job}", headers=h).json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def subscribe(s: Server, key: str, url: str, events=("lead.mql",)) -> dict:
    r = httpx.post(
        s.url + "/api/v1/webhooks", json={"url": url, "events": list(events)}, headers=auth(key)
    )
    assert r.status_code == 201, r.text
    return r.json()


def qualify(s: Server, key: str, ids: list[str]) -> None:
    """Leads of grade A that a demo request makes MQL, in one request each way."""
    h = auth(key)
    leads = [{"lead_id": x, "attributes": VP} for x in ids]
    assert httpx.post(s.url + "/api/v1/leads", json={"leads": leads}, headers=h).status_code == 200
    events = [{"lead_id": x, "event": "demo_request", "timestamp": time.time()} for x in ids]
    r = httpx.post(s.url + "/api/v1/events", json={"events": events}, headers=h, timeout=30)
    assert r.status_code == 200, r.text


def all_messages(s: Server, key: str, hook: dict) -> list[dict]:
    out, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{s.url}/api/v1/webhooks/{hook['id']}/messages", params=params, headers=auth(key)
        ).json()
        out += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_receiver_down_then_failing_then_back_loses_nothing(backend, tmp_path, request):
    url = url_for(backend, tmp_path, request)
    made = make_keys(url)
    rx = Receiver()  # not started: connections are refused
    ids = [f"L{i}" for i in range(30)]
    with server(url, tmp_path, **SHORT) as s:
        setup_model(s, made["admin"])
        hook = subscribe(s, made["admin"], rx.url)
        qualify(s, made["ingest"], ids)
        time.sleep(1.5)  # refused, several times
        rx.status = 500
        rx.start()
        rx.wait(lambda r: len(r.received) >= 2 * len(ids))  # failing, at least once each
        rx.status = 200
        rx.wait(lambda r: len(r.ids()) == len(ids))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stored = all_messages(s, made["read"], hook)
            if all(m["state"] == "delivered" for m in stored):
                break
            time.sleep(0.2)
        rx.stop()
    assert hook["secret"] not in (tmp_path / "serve.log").read_text()  # never logged
    # Every lead that qualified: one lead.mql, one id on every try, none lost.
    by_lead: dict[str, set[str]] = {}
    for m in rx.received:
        by_lead.setdefault(m.json["data"]["lead_id"], set()).add(m.id)
    assert set(by_lead) == set(ids)
    assert all(len(v) == 1 for v in by_lead.values())
    assert len(rx.ids()) == len(ids)
    assert len(stored) == len(ids) and all(m["state"] == "delivered" for m in stored)
    for m in stored:
        outcomes = [(a["status"], a["outcome"]) for a in m["attempts"]]
        assert outcomes[0] == (None, "retry")  # refused
        assert (500, "retry") in outcomes
        assert outcomes[-1] == (200, "delivered")
        assert "refused" in (m["attempts"][0]["error"] or "").lower()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_with_messages_pending_then_all_delivered(backend, tmp_path, request):
    """Some messages in flight to a slow receiver, the others waiting, when the service is
    killed: after a restart every one arrives, each under its one id."""
    url = url_for(backend, tmp_path, request)
    made = make_keys(url)
    rx = Receiver(delay=0.5).start()
    ids = [f"L{i}" for i in range(40)]
    # A short attempt limit: the leases of the attempts cut by the kill run out soon.
    env = {**SHORT, "LEADSCORE_WEBHOOK_TIMEOUT_SECONDS": "1"}
    with server(url, tmp_path, **env) as s:
        setup_model(s, made["admin"])
        hook = subscribe(s, made["admin"], rx.url)
        qualify(s, made["ingest"], ids)
        rx.wait(lambda r: len(r.received) >= 3)
        s.kill()
        sent_before = len(rx.ids())
        assert sent_before < len(ids)
        rx.delay = 0
        s.start()
        rx.wait(lambda r: len(r.ids()) == len(ids), 60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stored = all_messages(s, made["read"], hook)
            if all(m["state"] == "delivered" for m in stored):
                break
            time.sleep(0.2)
    rx.stop()
    assert len(stored) == len(ids) and all(m["state"] == "delivered" for m in stored)
    assert {m.json["data"]["lead_id"] for m in rx.received} == set(ids)
    assert rx.ids() == {m["id"] for m in stored}


def test_two_processes_share_a_backlog_of_10000_without_sending_one_twice(tmp_path, request):
    url = fresh_postgres(request.getfixturevalue("postgres_url"))
    made = make_keys(url)
    fast, other = Receiver().start(), Receiver().start()
    with server(url, tmp_path, LEADSCORE_WEBHOOK_POLL_SECONDS="0.1") as first:
        hooks = [subscribe(first, made["admin"], r.url) for r in (fast, other)]
        first.stop()
    # The backlog: 10,000 messages written while no process runs, 5,000 per receiver.
    db = Database(url)
    now = time.time()
    rows = [
        {
            "id": message_id(),
            "webhook_id": hooks[i % 2]["id"],
            "lead_id": f"L{i // 2}",
            "model": "b2b-saas",
            "type": "lead.mql",
            "body": json.dumps({"type": "lead.mql", "timestamp": "now", "data": {"n": i}}),
            "created_at": now,
            "state": "pending",
            "tries": 0,
            "next_at": now,
        }
        for i in range(10_000)
    ]
    with db.write() as conn:
        conn.execute(insert(WebhookMessage), rows)
    env = {"LEADSCORE_WEBHOOK_POLL_SECONDS": "0.1"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with server(url, tmp_path / "a", **env), server(url, tmp_path / "b", **env):
        for r in (fast, other):
            r.wait(lambda x: len(x.ids()) == 5_000, 120)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with db.read() as conn:
                left = conn.execute(
                    select(func.count())
                    .select_from(WebhookMessage)
                    .where(WebhookMessage.state != "delivered")
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.2)
        with db.read() as conn:
            senders = dict(
                conn.execute(
                    select(WebhookAttempt.sender, func.count()).group_by(WebhookAttempt.sender)
                ).all()
            )
            attempts = conn.execute(select(func.count()).select_from(WebhookAttempt)).scalar_one()
    db.dispose()
    fast.stop()
    other.stop()
    assert left == 0
    assert fast.ids() | other.ids() == {r["id"] for r in rows}
    # No attempt made twice at once, and none made twice at all: nothing failed here.
    assert fast.overlaps == [] and other.overlaps == []
    assert len(fast.received) + len(other.received) == 10_000 == attempts
    assert len(senders) == 2 and min(senders.values()) > 500, senders


def test_a_slow_receiver_does_not_hold_up_another(tmp_path):
    url = f"sqlite:///{tmp_path}/service.db"
    made = make_keys(url)
    slow, fast = Receiver(delay=10).start(), Receiver().start()
    ids = [f"L{i}" for i in range(20)]
    with server(url, tmp_path, LEADSCORE_WEBHOOK_POLL_SECONDS="0.1") as s:
        setup_model(s, made["admin"])
        subscribe(s, made["admin"], slow.url)
        subscribe(s, made["admin"], fast.url)
        started = time.monotonic()
        qualify(s, made["ingest"], ids)
        fast.wait(lambda r: len(r.ids()) == len(ids), 10)
        took = time.monotonic() - started
        assert len(slow.received) < len(ids)  # the slow one is still at its first few
    slow.stop()
    fast.stop()
    assert took < 10, took
