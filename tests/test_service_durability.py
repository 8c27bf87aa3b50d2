"""A 2xx means committed: batches sent while the server is killed with SIGKILL and
restarted, several times, are all in the database afterwards, and retrying with the same
event_ids adds nothing. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from leadscore.service.store.database import Database
from leadscore.service.store.tables import Event
from tests.service_support import EXAMPLE_MODEL, auth, fresh_postgres, make_keys, server

KILLS = 3
BATCH = 50


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_acknowledged_events_survive_kill_9(backend, tmp_path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/service.db"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    made = make_keys(url)
    acked: set[str] = set()
    sent: set[str] = set()
    with server(url, tmp_path) as s:
        h = auth(made["admin"])
        httpx.post(
            s.url + "/api/v1/models",
            content=EXAMPLE_MODEL.read_text(),
            headers={**h, "content-type": "application/yaml"},
        )
        job = httpx.post(s.url + "/api/v1/models/b2b-saas/versions/1/activate", headers=h).json()[
            "job"
        ]
        while httpx.get(f"{s.url}/api/v1/jobs/{job}", headers=h).json()["state"] != "done":
            time.sleep(0.1)
        leads = [{"lead_id": f"L{i}", "attributes": {"title": "VP Sales"}} for i in range(20)]
        assert (
            httpx.post(s.url + "/api/v1/leads", json={"leads": leads}, headers=h).status_code == 200
        )

        stop = threading.Event()

        def killer() -> None:
            for _ in range(KILLS):
                time.sleep(0.8)
                s.kill()
                s.start()
            stop.set()

        thread = threading.Thread(target=killer)
        thread.start()
        k = 0
        while not stop.is_set() or k < 10:
            batch = [
                {
                    "event_id": f"b{k}-{j}",
                    "lead_id": f"L{(k + j) % 20}",
                    "event": "email_open",
                    "timestamp": time.time() - j,
                }
                for j in range(BATCH)
            ]
            sent.update(e["event_id"] for e in batch)
            while True:  # the client retries the same batch until it is acknowledged
                try:
                    r = httpx.post(
                        s.url + "/api/v1/events", json={"events": batch}, headers=h, timeout=10
                    )
                    if r.status_code == 200:
                        acked.update(e["event_id"] for e in batch)
                        break
                    assert r.status_code >= 500, r.text
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            k += 1
        thread.join()
        # Every batch again: all duplicates now.
        for i in range(k):
            batch = [
                {
                    "event_id": f"b{i}-{j}",
                    "lead_id": f"L{(i + j) % 20}",
                    "event": "email_open",
                    "timestamp": time.time(),
                }
                for j in range(BATCH)
            ]
            r = httpx.post(s.url + "/api/v1/events", json={"events": batch}, headers=h, timeout=30)
            assert r.status_code == 200 and r.json()["accepted"] == 0, r.text
    db = Database(url)
    with db.read() as conn:
        stored = set(conn.execute(select(Event.event_id)).scalars())
        count = conn.execute(select(func.count()).select_from(Event)).scalar_one()
    db.dispose()
    assert acked <= stored, f"{len(acked - stored)} acknowledged events lost"
    assert stored <= sent and count == len(stored) == len(sent)
    assert k >= 10
