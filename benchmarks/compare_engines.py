"""leadscore on DuckDB and Spark against a hand-written DuckDB query and plain pandas.

    python benchmarks/compare_engines.py --leads 100000 1000000

Each method runs in its own process on the same generated files, start-up included;
peak memory is the largest resident size of the process and all its children (the
Spark JVM too), sampled from /proc. Every output is checked against leadscore's
DuckDB output (scores and reasons to 1e-6) before its time counts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AS_OF = "2026-11-01"
AS_OF_EPOCH = "1793491200.0"
MODEL = ROOT / "examples" / "b2b-saas.yaml"


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident GiB of a command and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return elapsed, peak / 1024**3


def check_same(reference: Path, other: Path) -> None:
    """Same leads, scores and reasons (to 1e-6) as leadscore's DuckDB output."""
    a = {r["lead_id"]: r for r in pq.read_table(reference).to_pylist()}
    b = {r["lead_id"]: r for r in pq.read_table(other).to_pylist()}
    assert a.keys() == b.keys(), f"{other}: other leads"
    for lead, row in a.items():
        mine = b[lead]
        for column in ("score", "fit_score", "engagement_score", "probability"):
            assert math.isclose(row[column], float(mine[column]), abs_tol=1e-6), (other, lead)
        for column in ("grade", "label", "mql"):
            assert row[column] == mine[column], (other, lead, column)
        x, y = json.loads(row["reasons"]), json.loads(mine["reasons"])
        assert [r["rule"] for r in x] == [r["rule"] for r in y], (other, lead, x, y)
        assert all(
            math.isclose(p["points"], q["points"], abs_tol=1e-6) for p, q in zip(x, y, strict=True)
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    args = parser.parse_args()
    rows = []
    for n in args.leads:
        data = ROOT / "benchmarks" / "data" / str(n)
        if not (data / "events.parquet").exists():
            subprocess.run(
                [str(BIN / "leadscore"), "generate", "--leads", str(n), "--seed", "42", "-q",
                 "-o", str(data)],
                check=True,
            )  # fmt: skip
        events = pq.ParquetFile(data / "events.parquet").metadata.num_rows
        leads, ev = str(data / "leads.parquet"), str(data / "events.parquet")
        score = [str(BIN / "leadscore"), "score", str(MODEL), leads, "--events", ev,
                 "--as-of", AS_OF, "-q"]  # fmt: skip
        alt = ROOT / "benchmarks" / "alternatives"
        methods = {
            "hand-written DuckDB SQL": [sys.executable, str(alt / "hand_written.py"), leads, ev,
                                        AS_OF_EPOCH],
            "leadscore, DuckDB": [*score, "-o"],
            "leadscore, Spark local[2]": [*score, "--engine", "spark", "-o"],
            "pandas": [sys.executable, str(alt / "pandas_score.py"), leads, ev, AS_OF_EPOCH],
        }  # fmt: skip
        results = {}
        for name, cmd in methods.items():
            if name in args.skip:
                continue
            out = data / f"out-{name.split()[0].strip(',')}-{len(results)}.parquet"
            seconds, gib = measure([*cmd, str(out)])
            results[name] = (seconds, gib, out)
            print(f"{n:>9,} leads {events:>11,} events  {name:<26} {seconds:7.1f} s {gib:6.2f} GiB",
                  flush=True)  # fmt: skip
        reference = results["leadscore, DuckDB"][2]
        for _, _, out in results.values():
            if out != reference:
                check_same(reference, out)
        base = results.get("hand-written DuckDB SQL")
        for name, (seconds, gib, _) in results.items():
            ratio = f"{seconds / base[0]:.2f}x" if base else ""
            mem = f"{gib / base[1]:.2f}x" if base else ""
            rows.append(f"| {n:,} / {events:,} | {name} | {seconds:.1f} s | {ratio} | "
                        f"{gib:.2f} GiB | {mem} |")  # fmt: skip
        for _, _, out in results.values():
            out.unlink()
    print("\n| leads / events | method | wall time | vs hand-written | peak memory | vs hand |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
