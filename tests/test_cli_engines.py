"""`leadscore score --engine spark|URL` and `compile --engine` from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import psycopg
import pytest

from tests.test_cli import files, run  # noqa: F401  (fixture)


def _scores(path: Path) -> dict[str, dict[str, str]]:
    return {r["lead_id"]: r for r in csv.DictReader(path.open())}


def _same_scores(a: Path, b: Path) -> None:
    x, y = _scores(a), _scores(b)
    assert x.keys() == y.keys()
    for lead in x:
        assert float(x[lead]["score"]) == pytest.approx(float(y[lead]["score"]), abs=1e-6)
        assert x[lead]["mql"] == y[lead]["mql"] and x[lead]["grade"] == y[lead]["grade"]
        rules = [r["rule"] for r in json.loads(x[lead]["reasons"])]
        assert rules == [r["rule"] for r in json.loads(y[lead]["reasons"])]


def _score(files: Path, out: str, *engine: str) -> None:  # noqa: F811
    result = run(
        "score", "model.yaml", "leads.csv", "--events", "events.csv", "--as-of", "2024-05-20",
        "--accounts-out", f"acc-{out}", "-o", out, "-q", *engine, cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_spark_engine_matches_duckdb(files: Path):  # noqa: F811
    _score(files, "duck.csv")
    _score(files, "spark.csv", "--engine", "spark")
    _same_scores(files / "duck.csv", files / "spark.csv")
    assert (files / "acc-spark.csv").read_text() == (files / "acc-duck.csv").read_text()


def test_spark_engine_bad_input_is_one_line(files: Path):  # noqa: F811
    result = run(
        "score", "model.yaml", "nope.csv", "-o", "x.csv", "-q", "--engine", "spark", cwd=files
    )
    assert result.returncode == 2
    assert "nope.csv: file not found" in result.stderr and "Traceback" not in result.stderr
    (files / "leads.csv").write_text("lead_id,employees,domain\na,1,x\n,2,y\n")
    result = run(
        "score", "model.yaml", "leads.csv", "-o", "x.csv", "-q", "--engine", "spark", cwd=files
    )
    assert result.returncode == 2
    assert "leads.csv row 2 column 'lead_id': the lead id is empty" in result.stderr
    assert not (files / "x.csv").exists()


def test_postgres_url_files_and_tables(files: Path, postgres_url: str):  # noqa: F811
    _score(files, "duck.csv")
    _score(files, "pg.csv", "--engine", postgres_url)
    _same_scores(files / "duck.csv", files / "pg.csv")
    # Inputs that already live in the warehouse are named as schema.table.
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS crm CASCADE; CREATE SCHEMA crm")
        con.execute("CREATE TABLE crm.leads (lead_id text, employees text, domain text)")
        with con.cursor().copy("COPY crm.leads FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
            copy.write((files / "leads.csv").read_text())
    result = run(
        "score", "model.yaml", "crm.leads", "-o", "table.csv", "-q", "--engine", postgres_url,
        cwd=files,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _scores(files / "table.csv")["a"]["fit_score"] == "10.0"
    result = run(
        "score", "model.yaml", "crm.nope", "-o", "t.csv", "--engine", postgres_url, cwd=files
    )
    assert result.returncode == 2 and "crm.nope: not a file and not a table" in result.stderr


def test_unreachable_warehouse_is_one_line(files: Path):  # noqa: F811
    result = run(
        "score", "model.yaml", "leads.csv", "-o", "x.csv",
        "--engine", "postgres://nobody:secret@127.0.0.1:1/none", cwd=files,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot connect to postgres://nobody:***@127.0.0.1:1/none" in result.stderr
    assert "secret" not in result.stderr


@pytest.mark.parametrize("engine", ["spark", "postgres"])
def test_compile_for_other_engines(files: Path, engine: str):  # noqa: F811
    result = run("compile", "model.yaml", "--engine", engine, "--as-of", "2024-05-20", cwd=files)
    assert result.returncode == 0, result.stderr
    sql = result.stdout
    if engine == "spark":
        assert "`leads`" in sql and "CAST(10.0 AS DOUBLE)" in sql
    else:
        assert '"leads"' in sql and "ARRAY_TO_STRING" in sql
