"""Webhook delivery under load: a backlog's rate, and an event's time to its lead.mql.

    python benchmarks/webhook_benchmark.py --db sqlite
    python benchmarks/webhook_benchmark.py --db postgres

The receiver is its own process (uvicorn, keep-alive, answers 200 at once) on
127.0.0.1; the service is `leadscore serve` as a process; this script drives both.
- backlog: 10,000 `lead.mql` messages written to the outbox while the service is stopped,
  then the service started: messages per second until the receiver has every id;
- latency: leads made MQL one request at a time at 20 per second for `--seconds`; for
  each, the time from the event's 2xx (its commit was before) to the arrival of its
  `lead.mql` at the receiver (p50 / p99), and from the request's start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECEIVER = """
import json, time
seen = {}
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    if scope["method"] == "GET":
        out = json.dumps(seen).encode()
    else:
        headers = dict(scope["headers"])
        data = json.loads(body)["data"]
        seen.setdefault(headers[b"webhook-id"].decode(), [data.get("lead_id"), time.time()])
        out = b"{}"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})
"""


@contextmanager
def receiver(folder: Path):
    from tests.services import free_port

    (folder / "bench_receiver.py").write_text(RECEIVER)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_receiver:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=folder,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/seen", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def seen(url: str) -> dict[str, list]:
    return httpx.get(url + "/seen", timeout=30).json()


def percentiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def main() -> None:
    from tests.service_support import EXAMPLE_MODEL, auth, fresh_postgres, make_keys, server
    from tests.services import postgres_server

    from leadscore.service.outbox import message_id
    from leadscore.service.store.database import Database
    from leadscore.service.store.tables import WebhookMessage

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.db == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            url = fresh_postgres(stack.enter_context(postgres_server()))
        made = make_keys(url)
        rx = stack.enter_context(receiver(tmp))
        env = {"LEADSCORE_WEBHOOK_POLL_SECONDS": "0.25"}
        with server(url, tmp, args.workers, **env) as s:
            h = auth(made["admin"])
            r = httpx.post(
                s.url + "/api/v1/models",
                content=EXAMPLE_MODEL.read_text(),
                headers={**h, "content-type": "application/yaml"},
            )
            assert r.status_code == 201, r.text
            job = httpx.post(s.url + "/api/v1/models/b2b-saas/versions/1/activate", headers=h)
            while (
                httpx.get(f"{s.url}/api/v1/jobs/{job.json()['job']}", headers=h).json()["state"]
                != "done"
            ):
                time.sleep(0.1)
            hook = httpx.post(
                s.url + "/api/v1/webhooks",
                json={"url": rx + "/hook", "events": ["lead.mql"]},
                headers=h,
            ).json()
        db = Database(url)
        now = time.time()
        rows = [
            {
                "id": message_id(),
                "webhook_id": hook["id"],
                "lead_id": f"B{i}",
                "model": "b2b-saas",
                "type": "lead.mql",
                "body": json.dumps(
                    {"type": "lead.mql", "timestamp": "", "data": {"lead_id": f"B{i}"}}
                ),
                "created_at": now,
                "state": "pending",
                "tries": 0,
                "next_at": now,
            }
            for i in range(args.messages)
        ]
        with db.write() as conn:
            conn.execute(WebhookMessage.__table__.insert(), rows)
        db.dispose()
        with server(url, tmp, args.workers, **env) as s:
            started = time.perf_counter()
            while len(got := seen(rx)) < args.messages:
                time.sleep(0.1)
            whole = args.messages / (time.perf_counter() - started)
            times = sorted(at for _, at in got.values())
            steady = (len(times) - 1) / (times[-1] - times[0])
            print(
                f"backlog of {args.messages:,}: {steady:,.0f} messages/s from the first "
                f"arrival to the last ({whole:,.0f}/s from the service's first answer)"
            )
            # Latency: one lead made MQL at a time, 20 a second.
            vp = {"title": "VP Sales", "industry": "software", "employees": 500, "country": "US"}
            ingest = httpx.Client(base_url=s.url, headers=auth(made["ingest"]), timeout=30)
            sent: dict[str, tuple[float, float]] = {}
            n = int(args.seconds * 20)
            begin = time.perf_counter()
            for i in range(n):
                delay = begin + i / 20 - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                lead_id = f"Q{i}"
                ingest.post(
                    "/api/v1/leads", json={"leads": [{"lead_id": lead_id, "attributes": vp}]}
                )
                t0 = time.time()
                r = ingest.post(
                    "/api/v1/events",
                    json={
                        "events": [{"lead_id": lead_id, "event": "demo_request", "timestamp": t0}]
                    },
                )
                assert r.status_code == 200, r.text
                sent[lead_id] = (t0, time.time())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                arrived = {lead: at for lead, at in seen(rx).values() if lead in sent}
                if len(arrived) == len(sent):
                    break
                time.sleep(0.2)
            after_ack = [arrived[k] - sent[k][1] for k in arrived]
            after_send = [arrived[k] - sent[k][0] for k in arrived]
            p50, p99 = percentiles(after_ack)
            q50, q99 = percentiles(after_send)
            print(
                f"event -> lead.mql at the receiver ({len(arrived)} of {len(sent)}): "
                f"from the 2xx p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
                f"from the request's start p50 {q50:.0f} ms, p99 {q99:.0f} ms"
            )


if __name__ == "__main__":
    main()
