"""The service under load, from a second process on the loopback address.

    python benchmarks/service_benchmark.py --db sqlite --leads 100000
    python benchmarks/service_benchmark.py --db postgres --leads 100000
    python benchmarks/service_benchmark.py --db sqlite --leads 1000000 --import-only

Generates the data once (benchmarks/data/, git-ignored), imports it with `leadscore
import` (timed, beside `leadscore score` on the same files), starts `leadscore serve`
as its own process, and measures from this one:
- events per second through POST /api/v1/events and /segment/v1/batch in batches of
  500 (two clients), next to plain inserts of the same rows into a table shaped like
  `events` in the same database, in the same run (the ceiling);
- p50/p99 latency of single-event ingests sent at 200 per second, of GET
  /api/v1/leads/{id} and of a filtered list page, each at 100 per second.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent / "leadscore"
MODEL = ROOT / "examples" / "b2b-saas.yaml"
EVENTS = [
    ("page_view", {"url": "/pricing"}),
    ("page_view", {"url": "/docs/start"}),
    ("email_open", {}),
    ("email_click", {}),
    ("form_submit", {}),
    ("webinar_attended", {}),
]


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def data_for(leads: int) -> Path:
    folder = ROOT / "benchmarks" / "data" / f"{leads}"
    if not (folder / "events.parquet").exists():
        timed([str(BIN), "generate", "--leads", str(leads), "-o", str(folder)])
    return folder


def database(kind: str, folder: Path, stack):
    if kind == "sqlite":
        path = folder / "bench.db"
        for f in folder.glob("bench.db*"):
            f.unlink()
        return f"sqlite:///{path}"
    from tests.service_support import fresh_postgres
    from tests.services import postgres_server

    return fresh_postgres(stack.enter_context(postgres_server()))


def event(lead_id: str, now: float) -> dict:
    name, props = random.choice(EVENTS)
    return {
        "event_id": uuid.uuid4().hex,
        "lead_id": lead_id,
        "event": name,
        "timestamp": now - random.random() * 86400 * 30,
        "properties": props,
    }


def percentiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def throughput(
    url: str, key: str, ids: list[str], path: str, seconds: float, segment: bool
) -> float:
    """Events per second, two clients sending batches of 500 back to back."""
    count, lock, stop = [0], threading.Lock(), time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as c:
            while time.monotonic() < stop:
                now = time.time()
                batch = [event(random.choice(ids), now) for _ in range(500)]
                if segment:
                    body = {
                        "batch": [
                            {
                                "type": "track",
                                "userId": e["lead_id"],
                                "event": e["event"],
                                "messageId": e["event_id"],
                                "properties": e["properties"],
                                "timestamp": e["timestamp"],
                            }
                            for e in batch
                        ]
                    }
                else:
                    body = {"events": batch}
                r = c.post(path, json=body)
                assert r.status_code == 200, r.text[:300]
                with lock:
                    count[0] += len(batch)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.monotonic() - started)


def paced(url: str, key: str, rate: float, seconds: float, request) -> tuple[float, float, int]:
    """Open loop: requests started at `rate` per second whatever the answers; latencies."""
    latencies: list[float] = []
    client = httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        limits=httpx.Limits(max_connections=64),
    )

    def one() -> None:
        start = time.perf_counter()
        r = request(client)
        assert r.status_code < 300, r.text[:300]
        latencies.append(time.perf_counter() - start)

    with ThreadPoolExecutor(max_workers=32) as pool:
        begin = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one)
    client.close()
    p50, p99 = percentiles(latencies)
    return p50, p99, len(latencies)


def ceiling(db_url: str, ids: list[str], n: int) -> float:
    """Plain inserts of rows like the API's into the service's own `events` table (its
    size and indexes), a transaction per 500 as the API commits; removed afterwards."""
    from sqlalchemy import delete, insert

    from leadscore.service.store.database import Database
    from leadscore.service.store.tables import Event

    db = Database(db_url)
    now = time.time()
    rows = [
        {**e, "ts": e.pop("timestamp"), "received_at": now}
        for e in (event(random.choice(ids), now) for _ in range(n))
    ]
    start = time.perf_counter()
    for i in range(0, n, 500):
        with db.write() as conn:
            conn.execute(insert(Event), rows[i : i + 500])
    rate = n / (time.perf_counter() - start)
    with db.write() as conn:
        for i in range(0, n, 500):
            conn.execute(
                delete(Event).where(Event.event_id.in_([r["event_id"] for r in rows[i : i + 500]]))
            )
    db.dispose()
    return rate


def main() -> None:
    from contextlib import ExitStack

    from tests.service_support import make_keys, server

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--import-only", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    args = parser.parse_args()
    folder = data_for(args.leads)
    leads, events = folder / "leads.parquet", folder / "events.parquet"
    with ExitStack() as stack:
        url = database(args.db, folder, stack)
        from leadscore.service.core import prepare_database
        from leadscore.service.settings import Settings

        prepare_database(Settings(db=url), [MODEL]).close()
        t_import = timed([str(BIN), "import", str(leads), "--events", str(events), "--db", url])
        t_score = timed(
            [
                str(BIN),
                "score",
                str(MODEL),
                str(leads),
                "--events",
                str(events),
                "-o",
                str(folder / "bench_scores.parquet"),
            ]
        )
        print(f"import {t_import:.1f} s, score {t_score:.1f} s ({t_import / t_score:.2f}x)")
        v2 = folder / "bench-v2.yaml"
        v2.write_text(MODEL.read_text().replace("version: 1", "version: 2"))
        t_activate = timed(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from leadscore.service.core import *; "
                "from leadscore.service.settings import Settings; "
                f"prepare_database(Settings(db={url!r}), [Path({str(v2)!r})]).close()",
            ]
        )
        print(f"activation (rescoring every lead, start-up included) {t_activate:.1f} s")
        if args.import_only:
            return
        made = make_keys(url)
        ids = [f"L{i:07d}" for i in range(args.leads)]
        import pyarrow.parquet as pq

        ids = [str(x) for x in pq.read_table(leads, columns=["lead_id"]).column(0).to_pylist()]
        tmp = stack.enter_context(__import__("tempfile").TemporaryDirectory())
        s = stack.enter_context(server(url, Path(tmp), args.workers))
        api = throughput(s.url, made["ingest"], ids, "/api/v1/events", args.seconds, False)
        seg = throughput(s.url, made["ingest"], ids, "/segment/v1/batch", args.seconds, True)
        top = ceiling(url, ids, 20_000)
        print(
            f"events/s in batches of 500: API {api:,.0f}, Segment {seg:,.0f}, "
            f"plain inserts into the events table {top:,.0f}"
        )

        def single(c: httpx.Client) -> httpx.Response:
            return c.post(
                "/api/v1/events", json={"events": [event(random.choice(ids), time.time())]}
            )

        p50, p99, n = paced(s.url, made["ingest"], 200, args.seconds, single)
        print(f"single-event ingest at 200/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({n} requests)")
        p50, p99, n = paced(
            s.url,
            made["read"],
            100,
            args.seconds,
            lambda c: c.get(f"/api/v1/leads/{random.choice(ids)}"),
        )
        print(
            f"GET /api/v1/leads/{{id}} at 100/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({n} requests)"
        )
        p50, p99, n = paced(
            s.url,
            made["read"],
            100,
            args.seconds,
            lambda c: c.get("/api/v1/leads", params={"grade": "A", "stage": "open", "limit": 50}),
        )
        print(
            f"list page (grade=A&stage=open, 50 rows) at 100/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )


if __name__ == "__main__":
    os.environ.setdefault("LEADSCORE_SWEEP_SECONDS", "0")
    main()
