"""How well and how fast `leadscore learn` does, against LightGBM and InterpretML's EBM.

Real data (../shared/data): each set is split 70/30, stratified, seed 42, with the
columns that leak the outcome excluded (see the data README). leadscore learns on
the training split through its command line, scores the test split with
`leadscore score`, and the test ROC AUC of the integer `score` and of the
`--predictive` probability are compared with LightGBM's default and an Explainable
Boosting Machine's (the glass-box anchor) on the same split.

    python benchmarks/learn_benchmark.py              # both real data sets
    python benchmarks/learn_benchmark.py --time-split # bank: learn on 2008-09, score 2009-10
    python benchmarks/learn_benchmark.py --generated 1000000   # learning time at scale
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import lightgbm as lgb
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
LEADSCORE = [sys.executable, "-m", "leadscore"]
SEED = 42

SETS = {
    "x-education": {
        "file": DATA / "x-education" / "leads.csv",
        "sep": ",",
        "target": "Converted",
        "id": "Prospect ID",
        "positive": "1",
        "exclude": [
            "Tags",
            "Lead Quality",
            "Lead Profile",
            "Asymmetrique Activity Index",
            "Asymmetrique Profile Index",
            "Asymmetrique Activity Score",
            "Asymmetrique Profile Score",
            "Last Activity",
            "Last Notable Activity",
            "Lead Number",
        ],
        "missing": [],
    },
    "bank-marketing": {
        "file": DATA / "bank-marketing" / "bank-additional-full.csv",
        "sep": ";",
        "target": "y",
        "id": None,  # none in the file: the benchmark numbers the rows as lead_id
        "positive": "yes",
        "exclude": ["duration"],
        "missing": ["999"],  # pdays = 999: never contacted before
    },
}
PLACEHOLDERS = {"", "select", "unknown"}


def split(name: str, spec: dict, folder: Path) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    raw = pd.read_csv(spec["file"], sep=spec["sep"], dtype=str, keep_default_na=False)
    if spec["id"] is None:
        raw.insert(0, "lead_id", [str(i) for i in range(1, len(raw) + 1)])
    y = (raw[spec["target"]].str.strip().str.lower() == spec["positive"]).astype(int)
    train, test = train_test_split(raw, test_size=0.3, stratify=y, random_state=SEED)
    paths = folder / f"{name}-train.csv", folder / f"{name}-test.csv"
    train.to_csv(paths[0], index=False)
    test.to_csv(paths[1], index=False)
    return paths[0], paths[1], train, test


def frames(spec: dict, train: pd.DataFrame, test: pd.DataFrame):
    """The same columns for both reference models: numbers as numbers, text as
    categories, placeholders missing; and the two outcome vectors."""
    drop = {spec["target"], spec["id"] or "lead_id", *spec["exclude"]}
    columns = [c for c in train.columns if c not in drop]
    missing = PLACEHOLDERS | {m.lower() for m in spec["missing"]}

    def prepare(df: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for c in columns:
            text = df[c].str.strip()
            text = text.where(~text.str.lower().isin(missing))
            numbers = pd.to_numeric(text, errors="coerce")
            if numbers.notna().sum() == text.notna().sum():
                out[c] = numbers
            else:
                cats = sorted(pd.concat([train[c], test[c]]).str.strip().unique())
                out[c] = pd.Categorical(text, categories=cats)
        return pd.DataFrame(out)

    def outcome(df: pd.DataFrame) -> pd.Series:
        return (df[spec["target"]].str.strip().str.lower() == spec["positive"]).astype(int)

    return prepare(train), prepare(test), outcome(train), outcome(test)


def lightgbm_default(spec: dict, train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """LGBMClassifier() on the same columns: numbers as numbers, text as categories."""
    x_train, x_test, y_train, y_test = frames(spec, train, test)
    started = time.perf_counter()
    model = lgb.LGBMClassifier(verbose=-1).fit(x_train, y_train)
    elapsed = time.perf_counter() - started
    return roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]), elapsed


def ebm_default(spec: dict, train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    """InterpretML's ExplainableBoostingClassifier with its defaults (random_state fixed)
    on the same columns; a missing category is a category of its own, as EBM expects."""
    from interpret.glassbox import ExplainableBoostingClassifier

    x_train, x_test, y_train, y_test = frames(spec, train, test)

    def text_as_text(df: pd.DataFrame) -> pd.DataFrame:
        return df.apply(
            lambda c: (
                c.astype(object).where(c.notna(), "(missing)")
                if isinstance(c.dtype, pd.CategoricalDtype)
                else c
            )
        )

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "missing values detected": numbers may be missing
        model = ExplainableBoostingClassifier(random_state=SEED).fit(text_as_text(x_train), y_train)
    elapsed = time.perf_counter() - started
    return roc_auc_score(y_test, model.predict_proba(text_as_text(x_test))[:, 1]), elapsed


def run(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([*LEADSCORE, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"leadscore {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def real_data() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, spec in SETS.items():
            train_file, test_file, train, test = split(name, spec, folder)
            y_test = (test[spec["target"]].str.strip().str.lower() == spec["positive"]).astype(int)
            options = ["--target", spec["target"], "--id", spec["id"] or "lead_id"]
            for column in spec["exclude"]:
                options += ["--exclude", column]
            for value in spec["missing"]:
                options += ["--missing", value]
            for predictive in (False, True):
                model = folder / f"{name}-{'predictive' if predictive else 'scorecard'}.yaml"
                extra = ["--predictive"] if predictive else []
                learn_time = run(["learn", str(train_file), *options, *extra, "-o", str(model)])
                scores_file = folder / f"{model.stem}-scores.csv"
                run(["score", str(model), str(test_file), "-o", str(scores_file), "-q"])
                scores = pd.read_csv(scores_file, dtype={"lead_id": str})
                key = spec["id"] or "lead_id"
                truth = pd.Series(y_test.values, index=test[key].values)
                y = truth.loc[scores["lead_id"]].values
                if predictive:
                    rows.append((name, "leadscore --predictive: probability",
                                 roc_auc_score(y, scores["probability"]), learn_time))  # fmt: skip
                else:
                    rows.append((name, "leadscore scorecard: integer score",
                                 roc_auc_score(y, scores["score"]), learn_time))  # fmt: skip
            auc, elapsed = lightgbm_default(spec, train, test)
            rows.append((name, "LightGBM, default settings", auc, elapsed))
            auc, elapsed = ebm_default(spec, train, test)
            rows.append((name, "EBM (InterpretML), default settings", auc, elapsed))
    print("| data set | method | test ROC AUC | learn time |")
    print("|---|---|---:|---:|")
    for name, method, auc, elapsed in rows:
        print(f"| {name} | {method} | {auc:.4f} | {elapsed:.1f} s |")


def time_split(first: int = 20_000) -> None:
    """Bank marketing in date order: learn on the first calls, score the later ones, as a
    team does when the model goes live. A model that learned a period (the month) or
    gave unseen values points scores the new period as one block (issue 11)."""
    spec = SETS["bank-marketing"]
    raw = pd.read_csv(spec["file"], sep=spec["sep"], dtype=str, keep_default_na=False)
    raw.insert(0, "lead_id", [str(i) for i in range(1, len(raw) + 1)])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        early, late = folder / "early.csv", folder / "late.csv"
        raw.iloc[:first].to_csv(early, index=False)
        raw.iloc[first:].to_csv(late, index=False)
        model, scores_file = folder / "bank.yaml", folder / "late-scores.csv"
        options = ["--target", "y", "--exclude", "duration", "--missing", "999"]
        run(["learn", str(early), *options, "-o", str(model)])
        done = subprocess.run(
            [*LEADSCORE, "score", str(model), str(late), "-o", str(scores_file), "-q"],
            capture_output=True, text=True,
        )  # fmt: skip
        scores = pd.read_csv(scores_file, dtype={"lead_id": str})
        truth = raw.set_index("lead_id").loc[scores["lead_id"], "y"].eq("yes").astype(int)
        text = model.read_text()
        left_out = [c for c in ("month", "day_of_week") if f": {c}" in text or f", {c}" in text]
        print(f"learned on the first {first:,} calls, scored the later {len(scores):,}:")
        print(
            f"  ROC AUC {roc_auc_score(truth, scores['score']):.4f}; "
            f"MQLs {scores['mql'].sum():,} ({scores['mql'].mean():.1%}); labels "
            + ", ".join(f"{k} {v:,}" for k, v in scores["label"].value_counts().items())
        )
        print(f"  columns left out as periods: {', '.join(left_out) or 'none'}")
        print(f"  score warnings: {done.stderr.strip() or 'none'}")


def generated(n_leads: int) -> None:
    folder = ROOT / "benchmarks" / "data" / str(n_leads)
    if not (folder / "leads.parquet").exists():
        run(["generate", "--leads", str(n_leads), "-o", str(folder), "-q"])
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "generated.yaml"
        peak = [0]
        done = threading.Event()
        args = [*LEADSCORE, "learn", str(folder / "leads.parquet"), "--target", "converted",
                "--events", str(folder / "events.parquet"), "-o", str(model)]  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        threading.Thread(target=_sample_rss, args=(proc.pid, peak, done), daemon=True).start()
        code = proc.wait()
        elapsed = time.perf_counter() - started
        done.set()
        if code:
            raise SystemExit(code)
        events = _count_rows(folder / "events.parquet")
        print(f"learn: {n_leads:,} leads, {events:,} events: {elapsed:.1f} s, "
              f"peak RSS {peak[0] / 2**30:.2f} GiB")  # fmt: skip
        print(model.read_text().split("fit:")[0][-600:])


def _sample_rss(pid: int, peak: list[int], done: threading.Event) -> None:
    while not done.is_set():
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(line.split()[1]) * 1024)
        except FileNotFoundError:
            return
        time.sleep(0.2)


def _count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, help="Time learning on N generated leads.")
    parser.add_argument("--time-split", action="store_true", help="Bank: early -> late calls.")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    if args.generated:
        generated(args.generated)
    elif args.time_split:
        time_split()
    else:
        real_data()


if __name__ == "__main__":
    main()
