"""Time and peak memory of `leadscore review` on generated data.

    python benchmarks/review_benchmark.py --leads 1000000

Reviews the example model on the generated leads (their `converted` outcome) with
their events, against a challenger that differs by its MQL threshold (80 -> 60),
so both models score every lead. Data: benchmarks/data/N (made by score_benchmark.py,
or here when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from score_benchmark import BIN, ROOT, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    args = parser.parse_args()
    data = ROOT / "benchmarks" / "data" / f"{args.leads}"
    if not (data / "events.parquet").exists():
        subprocess.run(
            [str(BIN), "generate", "--leads", str(args.leads), "--seed", "42", "-q",
             "-o", str(data)],
            check=True,
        )  # fmt: skip
    model = ROOT / "examples" / "b2b-saas.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        challenger = Path(tmp) / "challenger.yaml"
        challenger.write_text(model.read_text().replace("mql: {score: 80", "mql: {score: 60"))
        report, metrics = Path(tmp) / "review.html", Path(tmp) / "review.json"
        cmd = [
            str(BIN), "review", str(model), str(data / "leads.parquet"),
            "--events", str(data / "events.parquet"), "--target", "converted",
            "--compare", str(challenger), "-o", str(report), "--json", str(metrics), "-q",
        ]  # fmt: skip
        elapsed, peak = run(cmd)
        review = json.loads(metrics.read_text())
        size = report.stat().st_size / 1024**2
    perf = review["performance"]
    print(f"cores: {os.cpu_count()}  leads: {perf['leads']:,}")
    print(f"leadscore review --compare: {elapsed:.1f} s, peak RSS {peak:.2f} GiB")
    print(f"report {size:.1f} MiB; ROC AUC {perf['score']['roc_auc']:.4f}")
    print(f"verdict: {review['comparison']['verdict']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
