"""Time and peak memory of `leadscore score` on generated data.

    python benchmarks/score_benchmark.py --leads 1000000

Generates the data once (benchmarks/data/, git-ignored), then runs the real command
line in a child process and reads its peak resident memory from the OS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "leadscore"


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of a child process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events-per-lead", type=float, default=50)
    parser.add_argument("--model", default=str(ROOT / "examples" / "b2b-saas.yaml"))
    args = parser.parse_args()
    data = ROOT / "benchmarks" / "data" / f"{args.leads}"
    if not (data / "events.parquet").exists():
        subprocess.run(
            [str(BIN), "generate", "--leads", str(args.leads), "--seed", "42", "-q",
             "--events-per-lead", str(args.events_per_lead), "-o", str(data)],
            check=True,
        )  # fmt: skip
    out = data / "scores.parquet"
    cmd = [
        str(BIN), "score", args.model, str(data / "leads.parquet"),
        "--events", str(data / "events.parquet"), "--as-of", "2026-11-01", "-o", str(out), "-q",
    ]  # fmt: skip
    elapsed, peak = run(cmd)
    shown = " ".join(Path(c).name if "/" in c else c for c in cmd)
    print(f"cores: {os.cpu_count()}  command: {shown}")
    print(f"leadscore score: {elapsed:.1f} s, peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
