"""Make docs/review-report.png: the first screen of a review on real data.

x-education (../shared/data) is split 70/30 (stratified, seed 42) as in
benchmarks/learn_benchmark.py. The champion is learned on the 70% with the
default objective (80% of conversions as MQLs); the challenger is learned with
--mql-capacity 0.3 (sales can take 30% of the leads). Both are reviewed on the
30%, and Debian's Chromium takes the screenshot.

    .venv/bin/python scripts/report_screenshot.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from playwright.sync_api import sync_playwright
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "x-education" / "leads.csv"
LEAKS = [
    "Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
    "Asymmetrique Profile Index", "Asymmetrique Activity Score", "Asymmetrique Profile Score",
    "Last Activity", "Last Notable Activity", "Lead Number",
]  # fmt: skip
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def leadscore(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "leadscore", *args], cwd=cwd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Keep the data, models and report here.")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "review-report.png")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="leadscore-review-"))
    folder.mkdir(parents=True, exist_ok=True)
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    train, test = train_test_split(raw, test_size=0.3, stratify=raw["Converted"], random_state=42)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    common = ["--target", "Converted", "--id", "Prospect ID"]
    excludes = [arg for column in LEAKS for arg in ("--exclude", column)]
    leadscore("learn", "train.csv", *common, *excludes, "-o", "champion.yaml", cwd=folder)
    leadscore("learn", "train.csv", *common, *excludes, "--mql-capacity", "0.3",
              "-o", "challenger.yaml", cwd=folder)  # fmt: skip
    leadscore("review", "champion.yaml", "test.csv", *common, "--compare", "challenger.yaml",
              "-o", "report.html", "--json", "review.json", "-q", cwd=folder)  # fmt: skip
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((folder / "report.html").as_uri())
        page.wait_for_selector("#chart-distribution .main-svg")
        page.wait_for_timeout(500)  # let the charts settle after drawing
        args.output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=args.output)
        browser.close()
    print(f"wrote {args.output} (report: {folder / 'report.html'})")


if __name__ == "__main__":
    main()
