"""The command line as a user meets it: real files, real exit codes, one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MODEL = """\
model: cli
fit:
  rules:
    - name: big
      if: {employees: {gte: 200}}
      points: 10
  grades: {A: 10, B: 0}
engagement:
  half_life_days: 10
  rules:
    - name: pricing
      event: page_view
      if: {url: {contains: /pricing}}
      points: 20
      max_per_day: 1
thresholds:
  mql: {score: 20}
accounts: {key: domain}
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", *args], cwd=cwd, capture_output=True, text=True
    )


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "model.yaml").write_text(MODEL)
    write_csv(
        tmp_path / "leads.csv",
        [
            {"lead_id": "a", "employees": "500", "domain": "acme.com"},
            {"lead_id": "b", "employees": "10", "domain": "acme.com"},
            {"lead_id": "c", "employees": "", "domain": ""},
        ],
    )
    write_csv(
        tmp_path / "events.csv",
        [
            {
                "lead_id": "a",
                "event": "page_view",
                "timestamp": "2024-05-10T09:00:00Z",
                "url": "/pricing",
            },
            {
                "lead_id": "a",
                "event": "page_view",
                "timestamp": "2024-05-10T11:00:00+02:00",
                "url": "/pricing",
            },
            {"lead_id": "b", "event": "page_view", "timestamp": "1715331600", "url": "/docs"},
            {"lead_id": "zz", "event": "page_view", "timestamp": "2024-05-10", "url": "/pricing"},
        ],
    )
    return tmp_path


def test_score_csv_end_to_end(files: Path):
    result = run(
        "score", "model.yaml", "leads.csv", "--events", "events.csv", "--as-of", "2024-05-20",
        "--accounts-out", "accounts.csv", "-o", "scores.csv", "-q", cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 events belong to leads that are not in the leads file" in result.stderr
    rows = {r["lead_id"]: r for r in csv.DictReader((files / "scores.csv").open())}
    # Two pricing views on 2024-05-10 UTC (09:00Z and 09:00Z written as +02:00): one counts.
    assert float(rows["a"]["score"]) == pytest.approx(10 + 20 * 2 ** (-(10 - 9 / 24) / 10))
    assert rows["a"]["mql"] == "true" and rows["b"]["mql"] == "false"
    assert rows["a"]["grade"] == "A" and rows["b"]["grade"] == "B"
    assert rows["c"]["label"] == "" and rows["c"]["probability"] == ""
    assert json.loads(rows["c"]["reasons"]) == []
    assert [r["rule"] for r in json.loads(rows["a"]["reasons"])] == ["pricing", "big"]
    accounts = list(csv.DictReader((files / "accounts.csv").open()))
    assert [(a["account"], a["leads"]) for a in accounts] == [("acme.com", "2")]


def test_score_parquet_and_jsonl(files: Path):
    pq.write_table(
        pa.table({"lead_id": [1, 2], "employees": [250.0, 3.5], "domain": ["x.io", None]}),
        files / "leads.parquet",
    )
    event = {"lead_id": 1, "event": "page_view", "timestamp": "2024-05-19T00:00:00Z"}
    (files / "events.jsonl").write_text(json.dumps({**event, "url": "/pricing"}) + "\n")
    result = run(
        "score", "model.yaml", "leads.parquet", "--events", "events.jsonl",
        "--as-of", "2024-05-20T00:00:00Z", "-o", "scores.parquet", "-q", cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {r["lead_id"]: r for r in pq.read_table(files / "scores.parquet").to_pylist()}
    # Integer ids in both files stay integers in the output.
    assert rows[1]["score"] == pytest.approx(10 + 20 * 2 ** (-1 / 10))
    assert rows[2]["score"] == 0 and rows[2]["mql"] is False


def bad(files: Path, *args: str) -> str:
    """Run a command that must fail cleanly: exit 2, one line, no output written."""
    before = set(files.iterdir())
    result = run(*args, cwd=files)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert set(files.iterdir()) == before, "a file was written"
    return lines[0]


SCORE = ("score", "model.yaml", "leads.csv", "--events", "events.csv", "-o", "out.csv", "-q")


def test_missing_file(files: Path):
    line = bad(files, "score", "model.yaml", "nope.csv", "-o", "out.csv")
    assert line == "error: nope.csv: file not found"


def test_unknown_extension(files: Path):
    (files / "leads.xlsx").write_text("x")
    line = bad(files, "score", "model.yaml", "leads.xlsx", "-o", "out.csv")
    assert "leads.xlsx: unknown file type '.xlsx'" in line


def test_missing_id_column(files: Path):
    line = bad(files, *SCORE[:6], "out.csv", "--id", "Prospect ID")
    assert "leads.csv column 'Prospect ID': no id column 'Prospect ID'" in line


def test_duplicate_lead_ids(files: Path):
    write_csv(
        files / "leads.csv",
        [{"lead_id": i, "employees": "1", "domain": ""} for i in ["a", "b", "c", " b", "b"]],
    )
    line = bad(files, *SCORE)
    assert line == (
        "error: leads.csv row 5 column 'lead_id': duplicate lead id 'b' (also in row 2)"
    )


def test_bad_timestamp(files: Path):
    text = (files / "events.csv").read_text().replace("1715331600", "last tuesday")
    (files / "events.csv").write_text(text)
    line = bad(files, *SCORE)
    assert line.startswith(
        "error: events.csv row 3 column 'timestamp': 'last tuesday' is not a time"
    )


def test_rule_on_a_column_the_data_lacks(files: Path):
    (files / "model.yaml").write_text(MODEL.replace("employees", "headcount"))
    line = bad(files, *SCORE)
    assert "leads.csv column 'headcount': fit.rules[0] 'big' reads column 'headcount'" in line


def test_event_property_the_data_lacks(files: Path):
    (files / "model.yaml").write_text(MODEL.replace("url:", "page:"))
    line = bad(files, *SCORE)
    assert "events.csv column 'page': engagement.rules[0] 'pricing' reads property 'page'" in line


def test_invalid_model_lists_errors(files: Path):
    (files / "model.yaml").write_text(MODEL.replace("points: 20", "points: twenty"))
    result = run("validate", "model.yaml", cwd=files)
    assert result.returncode == 2
    assert "model.yaml line 14: engagement.rules[0].points: expected a number, got 'twenty'" in (
        result.stderr
    )


def test_validate_prints_a_summary(files: Path):
    result = run("validate", "model.yaml", cwd=files)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "score >= 20" in result.stdout


def test_existing_output_is_kept_on_failure(files: Path):
    (files / "out.csv").write_text("previous scores\n")
    text = (files / "events.csv").read_text().replace("1715331600", "nope")
    (files / "events.csv").write_text(text)
    assert run(*SCORE, cwd=files).returncode == 2
    assert (files / "out.csv").read_text() == "previous scores\n"


def test_bad_as_of(files: Path):
    line = bad(files, *SCORE, "--as-of", "someday")
    assert "--as-of 'someday' is not a time" in line


def test_compiled_sql_runs_and_matches_score(files: Path):
    """`leadscore compile` prints SQL that a warehouse can run as is."""
    import duckdb

    result = run("compile", "model.yaml", "--as-of", "2024-05-20", cwd=files)
    assert result.returncode == 0, result.stderr
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"CREATE VIEW leads AS SELECT * FROM read_csv('{files / 'leads.csv'}', all_varchar = true)"
    )
    con.execute(
        "CREATE VIEW events AS SELECT lead_id, event, epoch(timestamp::TIMESTAMPTZ) AS ts, url "
        f"FROM read_csv('{files / 'events.csv'}', all_varchar = true) WHERE lead_id <> 'b'"
    )
    got = {r[0]: r[1] for r in con.execute(result.stdout).fetchall()}
    assert got["a"] == pytest.approx(10 + 20 * 2 ** (-(10 - 9 / 24) / 10))
    assert got["c"] == 0
