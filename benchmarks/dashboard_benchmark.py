"""The dashboard's queue at a million leads: how long a page takes to answer.

    python benchmarks/dashboard_benchmark.py --leads 1000000

Generates the leads (with a few events each, ending now) once into benchmarks/data/,
imports them into a fresh SQLite service with `leadscore import`, starts `leadscore
serve`, signs in with a read key as a browser does (the session cookie), and times,
from this process on 127.0.0.1, whole HTML pages of the queue: the first page, a
filtered one (grade A, open), twenty pages deep by the Next link, the page before
(the Previous link), and a search. Each one 30 times, one at a time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent / "leadscore"
MODEL = ROOT / "examples" / "b2b-saas.yaml"


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def timed(client: httpx.Client, path: str, n: int = 30) -> tuple[float, float, str]:
    took, text = [], ""
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(path)
        took.append(time.perf_counter() - start)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        text = r.text
    q = statistics.quantiles(took, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000, text


def link(html: str, rel: str) -> str:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    assert found, rel
    return unescape(found.group(1))


def main() -> None:
    from tests.service_support import make_keys, server

    from leadscore.service.core import prepare_database
    from leadscore.service.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="the database of the last run")
    args = parser.parse_args()
    folder = ROOT / "benchmarks" / "data" / f"dashboard-{args.leads}"
    if not (folder / "events.parquet").exists():
        end = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime())
        run([str(BIN), "generate", "--leads", str(args.leads), "--events-per-lead", "5",
             "--end", end, "-o", str(folder)])  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = folder / "bench.db"
        url = f"sqlite:///{path}"
        if not (args.reuse and path.exists()):
            for old in folder.glob("bench.db*"):
                old.unlink()
            prepare_database(Settings(db=url), [MODEL]).close()
            took = run([str(BIN), "import", str(folder / "leads.parquet"), "--events",
                        str(folder / "events.parquet"), "--db", url])  # fmt: skip
            print(f"import of {args.leads:,} leads: {took:.0f} s")
        made = make_keys(url)
        with server(url, Path(tmp)) as s, httpx.Client(base_url=s.url, timeout=60) as c:
            r = c.post("/login", data={"key": made["read"], "next": "/"})
            assert r.status_code == 303, r.text
            rows = []
            p50, p99, first = timed(c, "/")
            rows.append(("first page (50 leads)", p50, p99))
            p50, p99, _ = timed(c, "/?grade=A&stage=open")
            rows.append(("grade A, open", p50, p99))
            page = first
            for _ in range(20):
                page = c.get(link(page, "next")).text
            deep = link(page, "next")
            p50, p99, page = timed(c, deep)
            rows.append(("21st page, by Next", p50, p99))
            p50, p99, _ = timed(c, link(page, "prev"))
            rows.append(("the page before it, by Previous", p50, p99))
            p50, p99, _ = timed(c, "/?q=company12.com", n=5)
            rows.append(("search (q, a scan of every lead)", p50, p99))
    print(f"| queue page at {args.leads:,} leads | p50 | p99 |")
    print("|---|---|---|")
    for name, p50, p99 in rows:
        print(f"| {name} | {p50:.1f} ms | {p99:.1f} ms |")


if __name__ == "__main__":
    main()
