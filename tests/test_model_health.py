"""A falling MQL acceptance rate fires `model.review_due` once, and the models page says
so; on real SQLite and PostgreSQL, to a real receiver."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from leadscore.service import model_health
from leadscore.service.store.tables import ActiveModel, ScoreSnapshot
from tests.service_support import EXAMPLE_MODEL, api, fresh_postgres
from tests.webhook_receiver import Receiver

VP = {"title": "VP Sales", "industry": "software", "employees": 500, "country": "US"}
DAY = 86400


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_falling_acceptance_rate_asks_for_a_review_once(backend, tmp_path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/service.db"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    rx = Receiver().start()
    with api(url, webhook_poll_seconds=0.05) as a:
        a.add_model(EXAMPLE_MODEL.read_text())
        hook = a.post("/api/v1/webhooks", json={"url": rx.url, "events": ["model.review_due"]})
        assert hook.status_code == 201
        db = a.client.app.state.service.db
        now = time.time()

        def qualify(prefix: str, accepted: int, rejected: int) -> list[str]:
            ids = [f"{prefix}{i}" for i in range(accepted + rejected)]
            leads = [{"lead_id": x, "attributes": VP} for x in ids]
            assert a.post("/api/v1/leads", "ingest", json={"leads": leads}).status_code == 200
            events = [{"lead_id": x, "event": "demo_request", "timestamp": now} for x in ids]
            assert a.post("/api/v1/events", "ingest", json={"events": events}).status_code == 200
            for i, x in enumerate(ids):
                body = {"verdict": "accepted"} if i < accepted else {
                    "verdict": "rejected", "reason": "no budget"}  # fmt: skip
                assert a.post(f"/api/v1/leads/{x}/feedback", "read", json=body).status_code == 201
            return ids

        early = qualify("E", 20, 5)  # 80% accepted in the version's first 30 days ...
        with db.write() as conn:  # ... which began 70 days ago
            conn.execute(update(ActiveModel).values(activated_at=now - 70 * DAY))
            conn.execute(
                update(ScoreSnapshot)
                .where(ScoreSnapshot.lead_id.in_(early))
                .values(at=now - 65 * DAY)
            )
        qualify("N", 10, 15)  # 40% in the last 30
        with db.read() as conn:
            found = model_health.health(conn, "b2b-saas", now, 0.10)
        assert found["acceptance"] == {"first_30_days": 0.8, "last_30_days": 0.4}
        assert [k for k, _ in found["due"]] == ["acceptance"]
        with db.write() as conn:  # a margin wider than the fall: nothing is due
            assert model_health.check(conn, ["b2b-saas"], now, 0.5) == 0
        with db.write() as conn:
            assert model_health.check(conn, ["b2b-saas"], now, 0.10) == 1
        with db.write() as conn:  # once: checking again sends nothing more
            assert model_health.check(conn, ["b2b-saas"], now + 60, 0.10) == 0
        rx.wait(lambda r: r.received)
        time.sleep(0.4)
        assert len(rx.received) == 1
        body = rx.received[0].json
        assert body["type"] == "model.review_due"
        assert body["data"]["kind"] == "acceptance" and "80%" in body["data"]["detail"]
        assert a.client.post("/login", data={"key": a.keys["read"]}).status_code == 200
        page = a.client.get("/models").text
        assert "Review due" in page and "fell from 80%" in page
    rx.stop()
