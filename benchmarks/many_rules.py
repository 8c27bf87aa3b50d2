"""validate, compile and score with a model of many rules (issue 11: linear in the rules).

    .venv/bin/python benchmarks/many_rules.py

Writes models with F fit rules and E engagement rules (a quarter of those with
limits) over the generated data's columns, then times each command as a whole
process, start-up included, on 2,000 generated leads with 100,703 events.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLES = ["vp", "director", "head", "chief", "manager", "engineer", "student", "analyst"]
EVENTS = ["page_view", "email_open", "email_click", "form_submit", "webinar_attended"]


SIZES = [(100, 100), (1000, 0), (0, 1000), (500, 500), (1000, 1000), (5000, 0)]


def model_text(n: int, n_events: int | None = None) -> str:
    n_events = n if n_events is None else n_events
    lines = ["model: many", "version: 1", "fit:", "  rules:"]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            cond = f"{{title: {{matches: '(?i)\\b{TITLES[i % len(TITLES)]}\\b'}}}}"
        elif kind == 1:
            cond = f"{{employees: {{between: [{i}, {i * 10 + 50}]}}}}"
        elif kind == 2:
            cond = f"{{industry: {{in: [software, fintech, x{i}]}}}}"
        else:
            cond = f"{{any: [{{country: US}}, {{source: {{contains: 'ref{i % 7}'}}}}]}}"
        lines.append(f"    - {{name: fit {i}, if: {cond}, points: {(i % 21) - 10}}}")
    if n == 0:
        lines[-1] = "  rules: []"
    lines += ["engagement:", "  half_life_days: 30", "  window_days: 365", "  rules:"]
    if n_events == 0:
        lines[-1] = "  rules: []"
    for i in range(n_events):
        limit = ""
        if i % 4 == 0:
            limit = ", max_per_day: 2" if i % 8 == 0 else ", max_total: 3"
        cond = f", if: {{url: {{contains: /p{i % 10}}}}}" if i % 2 == 0 else ""
        lines.append(
            f"    - {{name: ev {i}, event: {EVENTS[i % len(EVENTS)]}{cond}, points: {i % 5 + 1}"
            f"{limit}}}"
        )
    lines += ["thresholds:", "  mql: {score: 50}"]
    return "\n".join(lines) + "\n"


def timed(*args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "leadscore", *args], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", nargs="+", default=[f"{f}+{e}" for f, e in SIZES], help="FIT+EVENTS ..."
    )
    parser.add_argument("--leads", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "leadscore", "generate", "--leads", str(args.leads),
             "--seed", "1", "-o", str(folder / "data"), "-q"],
            check=True,
        )  # fmt: skip
        print("| fit rules | engagement rules | validate | compile | score |")
        print("| --- | --- | --- | --- | --- |")
        for size in args.sizes:
            n_fit, n_events = (int(x) for x in size.split("+"))
            model = folder / f"many-{n_fit}-{n_events}.yaml"
            model.write_text(model_text(n_fit, n_events))
            v = timed("validate", str(model))
            c = timed("compile", str(model))
            s = timed(
                "score", str(model), str(folder / "data" / "leads.parquet"),
                "--events", str(folder / "data" / "events.parquet"),
                "--as-of", "2026-11-01", "-o", str(folder / "out.parquet"), "-q",
            )  # fmt: skip
            print(f"| {n_fit:,} | {n_events:,} | {v:.1f} s | {c:.1f} s | {s:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
