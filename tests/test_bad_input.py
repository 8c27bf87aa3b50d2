"""Every mistake a user makes gets one clear line (issue 11).

Usage mistakes, output paths, a corpus of bad models (tests/corpus/models, each file
names the words its message must hold) run through validate, score and compile, and
bad data files through score, learn and review: exit 2, every line an `error:` that
names the place, no traceback, nothing written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_cli import MODEL, run, write_csv

CORPUS = Path(__file__).parent / "corpus" / "models"


def in_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command line's entry point, called in this process (seconds faster a run than a
    new interpreter, for the corpus that runs dozens); the same exit codes and output."""
    from leadscore.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd(), sys.argv
    code = 0
    try:
        os.chdir(cwd)
        sys.argv = ["leadscore", *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        os.chdir(old[0])
        sys.argv = old[1]
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def refused(
    cwd: Path,
    *args: str,
    words: tuple[str, ...] = (),
    one_line: bool = True,
    fast: bool = False,
) -> str:
    """Run a command that must fail cleanly; returns its message. `fast`: in process."""
    before = sorted(p.relative_to(cwd) for p in cwd.rglob("*"))
    result = (in_process if fast else run)(*args, cwd=cwd)
    assert result.returncode == 2, (args, result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    if one_line:
        assert len(lines) == 1, result.stderr
    message = " ".join(lines)
    for word in words:
        assert word in message, (word, message)
    assert sorted(p.relative_to(cwd) for p in cwd.rglob("*")) == before, "a file was written"
    return message


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "model.yaml").write_text(MODEL)
    write_csv(
        tmp_path / "leads.csv",
        [
            {"lead_id": "a", "employees": "500", "domain": "acme.com"},
            {"lead_id": "b", "employees": "10", "domain": "acme.com"},
        ],
    )
    write_csv(
        tmp_path / "events.csv",
        [{"lead_id": "a", "event": "page_view", "timestamp": "2024-05-10T09:00:00Z",
          "url": "/pricing"}],
    )  # fmt: skip
    return tmp_path


# -- 1. usage mistakes ------------------------------------------------------------------

USAGE = [
    (("scroe",), ("No such command 'scroe'", "Did you mean 'score'?")),
    ((), ("missing command", "score", "leadscore --help")),
    (("score",), ("Missing argument",)),
    (("score", "model.yaml"), ("Missing argument",)),
    (("score", "model.yaml", "leads.csv"), ("Missing option", "-o")),
    (("score", "model.yaml", "leads.csv", "-o"), ("-o", "requires an argument")),
    (("score", "model.yaml", "leads.csv", "-o", "s.csv", "--bogus"), ("No such option: --bogus",)),
    (("learn", "leads.csv", "--target", "y", "--mql-capacity", "20", "-o", "m.yaml"),
     ("--mql-capacity 20", "between 0.001 and 1", "0.2 for the top 20%")),
    (("learn", "leads.csv", "--target", "y", "--mql-recall", "1.5", "-o", "m.yaml"),
     ("--mql-recall 1.5",)),
    (("generate", "--leads", "many", "-o", "out"), ("--leads", "integer")),
    (("generate", "--leads", "0", "-o", "out"), ("--leads",)),
    (("review", "model.yaml", "leads.csv", "-o", "r.html"), ("--target COLUMN", "--db")),
    (("review", "model.yaml", "--target", "y", "-o", "r.html"), ("LEADS", "--db")),
    (("review", "model.yaml", "leads.csv", "--target", "y"), ("-o REPORT.html",)),
    (("validate", "model.yaml", "extra"), ("unexpected extra argument",)),
    (("score", "model.yaml", "leads.csv", "-o", "s.csv", "--engine", "oracle"),
     ("unknown engine 'oracle'",)),
    (("score", "model.yaml", "leads.csv", "-o", "s.csv", "--encoding", "latn1"),
     ("--encoding 'latn1' is not a text encoding",)),
    (("score", "model.yaml", "leads.csv", "-o", "s.csv", "--encoding", "base64"),
     ("--encoding 'base64' is not a text encoding",)),
    (("generate", "--leads", "100000000000", "-o", "out"), ("--leads", "at most 10,000,000")),
    (("review", "model.yaml", "leads.csv", "--target", "x", "--reference-events", "leads.csv",
      "-o", "r.html"), ("--reference-events goes with --reference",)),
    (("score", "model.yaml", "leads.csv", "-o", "s.csv", "--as-of", "someday"),
     ("--as-of 'someday' is not a time",)),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), USAGE, ids=[" ".join(a) or "bare" for a, _ in USAGE])
def test_usage_mistakes_get_one_line_and_exit_2(files: Path, args: tuple, words: tuple) -> None:
    # A new interpreter for the first few (what a user runs), in process for the rest.
    refused(files, *args, words=words, fast=USAGE.index((args, words)) > 2)


def test_version(files: Path) -> None:
    from leadscore import __version__

    result = run("--version", cwd=files)
    assert result.returncode == 0 and result.stdout.strip() == f"leadscore {__version__}"


# -- 2 and 12. output paths ---------------------------------------------------------------


def test_output_that_is_an_input_is_refused(files: Path) -> None:
    refused(files, "score", "model.yaml", "leads.csv", "-o", "leads.csv",
            words=("-o leads.csv: is also an input (leads.csv)",))  # fmt: skip
    (files / "sub").mkdir()
    refused(files, "score", "model.yaml", "leads.csv", "--events", "events.csv",
            "-o", "sub/../events.csv", words=("is also an input",), fast=True)  # fmt: skip
    # learn writes MODEL.analysis.csv beside the model: that one counts too.
    write_csv(files / "m.analysis.csv", [{"lead_id": "a", "converted": "1"}])
    refused(files, "learn", "m.analysis.csv", "--target", "converted", "-o", "m.yaml",
            words=("m.analysis.csv: is also an input",), fast=True)  # fmt: skip
    # A challenger named like the report.
    (files / "r.html").write_text(MODEL)
    refused(files, "review", "model.yaml", "leads.csv", "--target", "x", "--compare", "r.html",
            "-o", "r.html", words=("-o r.html: is also an input",), fast=True)  # fmt: skip


def test_output_paths_that_cannot_be_written(files: Path) -> None:
    (files / "out").mkdir()
    refused(files, "score", "model.yaml", "leads.csv", "-o", "out",
            words=("expected a file ending in .csv or .parquet",), fast=True)  # fmt: skip
    (files / "dir.csv").mkdir()
    refused(files, "score", "model.yaml", "leads.csv", "-o", "dir.csv",
            words=("-o dir.csv: is a folder",), fast=True)  # fmt: skip
    refused(files, "score", "model.yaml", "leads.csv", "-o", "nowhere/s.csv",
            words=("folder nowhere does not exist",), fast=True)  # fmt: skip
    refused(files, "score", "model.yaml", "leads.csv", "-o", "s.csv", "--accounts-out", "s.csv",
            words=("--accounts-out s.csv: is also the file of -o s.csv",), fast=True)  # fmt: skip
    (files / "m.yaml").mkdir()
    refused(files, "learn", "leads.csv", "--target", "converted", "-o", "m.yaml",
            words=("-o m.yaml: is a folder",), fast=True)  # fmt: skip
    refused(files, "review", "model.yaml", "leads.csv", "--target", "x", "-o", "r.htm",
            words=("expected a file ending in .html",), fast=True)  # fmt: skip
    refused(files, "generate", "--leads", "10", "-o", "leads.csv",
            words=("-o leads.csv: is a file; expected a folder",), fast=True)  # fmt: skip


def test_learn_leaves_nothing_behind_when_it_fails(files: Path) -> None:
    write_csv(files / "past.csv", [{"lead_id": f"L{i}", "x": "1", "converted": "1"}
                                   for i in range(50)])  # fmt: skip
    refused(files, "learn", "past.csv", "--target", "converted", "-o", "m.yaml",
            words=("the target has 1 distinct value",), fast=True)  # fmt: skip


# -- 8, 10, 13. the corpus of bad models ----------------------------------------------------


def _expected(path: Path) -> tuple[str, ...]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return tuple(w.strip() for w in first.removeprefix("# expect: ").split(" | "))


MODELS = sorted(CORPUS.glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS, ids=[m.stem for m in MODELS])
def test_bad_models_are_refused_by_validate_score_and_compile(files: Path, model: Path) -> None:
    (files / model.name).write_text(model.read_text())
    words = (model.name, *_expected(model))
    refused(files, "validate", model.name, words=words, one_line=False, fast=True)
    refused(files, "compile", model.name, words=words, one_line=False, fast=True)
    refused(files, "score", model.name, "leads.csv", "-o", "s.csv", words=words, one_line=False)


def test_conditions_nested_too_deep(files: Path) -> None:
    deep = "{any: [" * 1000 + "{a: 1}" + "]}" * 1000
    (files / "deep.yaml").write_text(
        f"model: deep\nfit:\n  rules:\n    - {{name: x, points: 1, if: {deep}}}\n"
    )
    refused(files, "validate", "deep.yaml", words=("deep.yaml", "nested more than 64 levels"))


def test_patterns_run_in_linear_time_in_the_one_lead_scorer() -> None:
    """Python's re takes minutes on this; RE2 (DuckDB's engine, and ours) does not."""
    from leadscore import one_lead
    from leadscore.model.load import parse_model

    model = parse_model(
        "model: m\nfit:\n  rules:\n    - {name: r, if: {title: {matches: '^(a+)+$'}}, points: 1}\n"
    )
    lead = {"lead_id": "x", "title": "a" * 10_000 + "b"}
    assert one_lead.score_lead(model, lead, as_of=0).score == 0
    assert one_lead.score_lead(model, {"lead_id": "y", "title": "aaaa"}, as_of=0).score == 1


# -- 6 and 14. data files -------------------------------------------------------------------


def test_a_file_that_is_not_utf8(files: Path) -> None:
    rows = b"lead_id,employees,domain\n" + b"".join(b"L%d,5,x.io\n" % i for i in range(3000))
    (files / "latin.csv").write_bytes(rows + "L3001,7,soci\u00e9t\u00e9.fr\n".encode("latin-1"))
    refused(files, "score", "model.yaml", "latin.csv", "-o", "s.csv",
            words=("latin.csv row 3001", "is not UTF-8 text (byte 0xE9)", "--encoding latin-1",
                   "iconv"))  # fmt: skip
    result = run("score", "model.yaml", "latin.csv", "-o", "s.csv", "-q",
                 "--encoding", "latin-1", cwd=files)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len((files / "s.csv").read_text(encoding="utf-8").splitlines()) == 3002
    write_csv(files / "past.csv", [{"lead_id": "a", "converted": "1"}])
    (files / "past.csv").write_bytes((files / "past.csv").read_bytes() + b"b\xe9,0\n")
    refused(files, "learn", "past.csv", "--target", "converted", "-o", "m.yaml",
            words=("past.csv row 2", "is not UTF-8"))  # fmt: skip


BAD_FILES = [
    ("empty.csv", b"", ("empty.csv: the file is empty",)),
    ("blank.csv", b"\n\n  \n", ("blank.csv: the file is empty",)),
    ("ragged.csv", b"lead_id,employees,domain\na,1,x\nb,1,x,extra,more\n",
     ("ragged.csv row 2: has 5 fields where the header has 3",)),
    # No other quotes: DuckDB's sniffer reads without a quote character and would keep it.
    ("unclosed.csv", b'lead_id,employees,domain\na,1,x\nb,"1,x\nc,2,y\n',
     ("unclosed.csv row 2: has 2 fields", "a quote opened in this row may not be closed")),
    ("rows.jsonl", b'{"lead_id": "a", "employees": 1, "domain": "x"}\n{"lead_id": b}\n',
     ("rows.jsonl row 2: not valid JSON",)),
    ("cut.jsonl", b'{"lead_id": "a", "employees": 1, "domain": "x"}\n{"lead_id": "b", "x":\n',
     ("cut.jsonl row 2: not valid JSON: Expecting value at column 22",)),
    ("twice.csv", b"lead_id,employees,domain,domain\na,1,x,y\n",
     ("twice.csv: the header names 'domain' more than once",)),
    ("utf16.csv", "lead_id,employees,domain\na,1,x\n".encode("utf-16"),
     ("utf16.csv: is UTF-16 text", "--encoding utf-16")),
    ("sheet.csv", b"PK\x03\x04" + bytes(200), ("sheet.csv: is not a CSV text file", "Excel")),
    ("table.csv", b"PAR1" + bytes(200), ("table.csv: is not a CSV text file", ".parquet")),
    ("list.jsonl", b'{"lead_id": "a", "employees": 1, "domain": "x"}\n[1, 2]\n',
     ("list.jsonl row 2: expected one JSON object per line",)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_leads_files(files: Path, name: str, content: bytes, words: tuple) -> None:
    (files / name).write_bytes(content)
    fast = BAD_FILES.index((name, content, words)) > 0
    refused(files, "score", "model.yaml", name, "-o", "s.csv", words=words, fast=fast)


def test_a_wrong_encoding_option_is_refused_cleanly(files: Path) -> None:
    # No byte-order mark: Python's UTF-16 decoder stops with UnicodeError, not a decode error.
    refused(files, "score", "model.yaml", "leads.csv", "-o", "s.csv", "--encoding", "utf-16",
            words=("leads.csv: is not utf-16 text", "check --encoding"), fast=True)  # fmt: skip
    (files / "u16.csv").write_bytes((files / "leads.csv").read_text().encode("utf-16"))
    result = in_process("score", "model.yaml", "u16.csv", "-o", "s.csv", "-q", "--encoding",
                        "utf-16", cwd=files)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_a_data_file_given_as_the_model(files: Path) -> None:
    refused(files, "score", "leads.csv", "model.yaml", "-o", "s.csv",
            words=("leads.csv: expected a mapping", "the model, a .yaml file, comes first"),
            fast=True)  # fmt: skip
    pq.write_table(pa.table({"lead_id": ["a"]}), files / "leads.parquet")
    refused(files, "validate", "leads.parquet",
            words=("leads.parquet: is not a model", "comes first"), fast=True)  # fmt: skip


BAD_TIMES = [
    ("1715331600000", ("looks like epoch milliseconds", "divide by 1000")),
    ("2024-05-10T24:00:00", ("'2024-05-10T24:00:00' is not a time",)),
    ("2024-02-30", ("2024-02 has no day 30",)),
    ("2024-05-10T14:02:00 America/New_York", ("is not a time",)),
    ("14:02Z", ("'14:02Z' is not a time", "ISO 8601")),
    ("x" * 10_000, ("is not a time",)),
]


@pytest.mark.parametrize(("value", "words"), BAD_TIMES, ids=[t[:30] for t, _ in BAD_TIMES])
def test_bad_event_times(files: Path, value: str, words: tuple) -> None:
    write_csv(files / "events.csv", [
        {"lead_id": "a", "event": "page_view", "timestamp": "2024-05-10", "url": "/"},
        {"lead_id": "b", "event": "page_view", "timestamp": value, "url": "/"},
    ])  # fmt: skip
    where = "events.csv row 2 column 'timestamp'"
    message = refused(files, "score", "model.yaml", "leads.csv", "--events", "events.csv",
                      "-o", "s.csv", words=(where, *words))  # fmt: skip
    assert len(message) < 400, "a long value is cut"


def test_json_lines_may_mix_text_and_epoch_times(files: Path) -> None:
    lines = [
        {"lead_id": "a", "event": "page_view", "timestamp": "2024-05-19T00:00:00Z",
         "url": "/pricing"},
        {"lead_id": "a", "event": "page_view", "timestamp": 1716163200, "url": "/pricing"},
    ]  # fmt: skip
    (files / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = run("score", "model.yaml", "leads.csv", "--events", "events.jsonl", "--as-of",
                 "2024-05-20", "-o", "s.csv", "-q", cwd=files)  # fmt: skip
    assert result.returncode == 0, result.stderr
    score = float((files / "s.csv").read_text().splitlines()[1].split(",")[1])
    # 10 fit points, then 20 points a day (max_per_day 1) halving every 10 days: 19th and 20th.
    assert score == pytest.approx(10 + 20 * 2**-0.1 + 20)


def test_bad_times_in_options(files: Path) -> None:
    refused(files, "compile", "model.yaml", "--as-of", "garbage",
            words=("--as-of 'garbage' is not a time",))  # fmt: skip
    refused(files, "generate", "--leads", "10", "--end", "garbage", "-o", "g",
            words=("--end 'garbage' is not a time",))  # fmt: skip
    refused(files, "score", "model.yaml", "leads.csv", "-o", "s.csv", "--as-of", "999999999999",
            words=("--as-of '999999999999' looks like epoch milliseconds",))  # fmt: skip


def test_parquet_with_millisecond_integers(files: Path) -> None:
    pq.write_table(
        pa.table(
            {"lead_id": ["a"], "event": ["page_view"], "timestamp": [1715331600000], "url": ["/"]}
        ),
        files / "events.parquet",
    )
    refused(files, "score", "model.yaml", "leads.csv", "--events", "events.parquet",
            "-o", "s.csv", words=("events.parquet row 1 column 'timestamp'",
                                  "looks like epoch milliseconds"))  # fmt: skip


# -- 13. a model of a thousand rules ------------------------------------------------------


def test_a_model_of_a_thousand_rules_scores_as_the_reference_does() -> None:
    """It hit RecursionError in compile; its time is measured in benchmarks/many_rules.py."""
    from leadscore import one_lead
    from leadscore.batch import score_tables
    from leadscore.model.load import parse_model

    fit = "\n".join(
        f"    - {{name: f{i}, if: {{size: {{between: [{i}, {i + 40}]}}}}, points: {i % 7 - 3}}}"
        for i in range(1000)
    )
    events = "\n".join(
        f"    - {{name: e{i}, event: v{i % 5}, if: {{url: {{contains: /p{i % 10}}}}}, "
        f"points: {1 + i % 4}{', max_per_day: 2' if i % 3 == 0 else ''}}}"
        for i in range(200)
    )
    model = parse_model(
        f"model: big\nfit:\n  rules:\n{fit}\nengagement:\n  half_life_days: 20\n"
        f"  rules:\n{events}\n"
    )
    leads = [{"lead_id": f"L{i}", "size": str(i * 37 % 1100)} for i in range(30)]
    evs = [
        {"lead_id": f"L{i % 30}", "event": f"v{i % 5}", "url": f"/p{i % 13}",
         "timestamp": f"2024-03-0{1 + i % 9}T{i % 24:02d}:00:00Z"}
        for i in range(600)
    ]  # fmt: skip
    scored = score_tables(model, pa.Table.from_pylist(leads), pa.Table.from_pylist(evs),
                          as_of="2024-03-10")  # fmt: skip
    rows = {r["lead_id"]: r for r in scored.scores.to_pylist()}
    for lead in leads:
        mine = [e for e in evs if e["lead_id"] == lead["lead_id"]]
        want = one_lead.score_lead(model, lead, mine, as_of="2024-03-10")
        assert rows[lead["lead_id"]]["score"] == pytest.approx(want.score, abs=1e-6)
        got = {r["rule"]: r["points"] for r in json.loads(rows[lead["lead_id"]]["reasons"])}
        assert got == pytest.approx({r.rule: r.points for r in want.reasons}, abs=1e-6)


# -- a newcomer's probe: files that are not what they seem, folders that hold the user's ---

PREDICTIVE = """\
model: p
fit:
  rules:
    - {{name: big, points: 10, if: {{employees: {{gte: 200}}}}}}
predictive:
  file: {file}
  features:
{features}
  calibration: {{slope: 1.0, intercept: 0.0}}
"""


def test_a_predictive_file_that_is_not_the_models(files: Path) -> None:
    import lightgbm as lgb
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    data = lgb.Dataset(x, label=(x[:, 0] > 0).astype(int), params={"verbose": -1})
    lgb.train({"objective": "binary", "verbose": -1}, data, 5).save_model(files / "m.lgb.txt")
    two = "    - {column: employees, type: numeric}\n    - {column: size, type: numeric}\n"
    (files / "good.yaml").write_text(PREDICTIVE.format(file="m.lgb.txt", features=two))
    assert in_process("validate", "good.yaml", cwd=files).returncode == 0
    three = two + "    - {column: domain, type: categorical}\n"
    (files / "other.yaml").write_text(PREDICTIVE.format(file="m.lgb.txt", features=three))
    refused(files, "validate", "other.yaml", words=(
        "other.yaml line 6: predictive.file", "trained on 2 features", "lists 3",
        "belongs to another model"), fast=True)  # fmt: skip
    refused(files, "score", "other.yaml", "leads.csv", "-o", "s.csv",
            words=("belongs to another model",), fast=True)  # fmt: skip
    (files / "junk.lgb.txt").write_text("garbage\n")
    (files / "junk.yaml").write_text(PREDICTIVE.format(file="junk.lgb.txt", features=two))
    refused(files, "score", "junk.yaml", "leads.csv", "-o", "s.csv",
            words=("'junk.lgb.txt' is not a LightGBM model file",), fast=True)  # fmt: skip
    # One byte less in a tree: the sizes in the header no longer add up (LightGBM can
    # abort the whole process on such a file, so it is refused before LightGBM reads it).
    text = (files / "m.lgb.txt").read_text()
    (files / "cut.lgb.txt").write_text(text.replace("num_leaves=", "num_leave=", 1))
    (files / "cut.yaml").write_text(PREDICTIVE.format(file="cut.lgb.txt", features=two))
    refused(files, "score", "cut.yaml", "leads.csv", "-o", "s.csv",
            words=("'cut.lgb.txt' is damaged",), fast=True)  # fmt: skip


def test_demo_and_generate_keep_the_users_files(files: Path) -> None:
    (files / "mine").mkdir()
    (files / "mine" / "scores.csv").write_text("my,own\n1,2\n")
    refused(files, "demo", "--no-serve", "--dir", "mine", "--leads", "50",
            words=("--dir mine: holds scores.csv, which leadscore did not write",),
            fast=True)  # fmt: skip
    (files / "gen").mkdir()
    (files / "gen" / "leads.parquet").write_bytes(b"mine")
    refused(files, "generate", "--leads", "10", "-o", "gen",
            words=("-o gen: holds leads.parquet, which leadscore did not write",),
            fast=True)  # fmt: skip
    # What leadscore wrote, it may write again.
    for _ in range(2):
        again = in_process("generate", "--leads", "10", "-o", "ours", "-q", cwd=files)
        assert again.returncode == 0, again.stderr


def test_a_terminated_run_leaves_no_temporary_file(files: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "leadscore", "generate", "--leads", "2000000", "-o", "big"],
        cwd=files, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list((files / "big").glob(".*.tmp.parquet")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((files / "big").glob(".*.tmp.parquet")), "the run never started writing"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert not list((files / "big").iterdir()), "a temporary file was left behind"


def test_learn_with_events_of_other_leads(files: Path) -> None:
    write_csv(files / "past.csv", [{"lead_id": f"L{i}", "size": str(i % 7),
                                   "converted": str(i % 2)} for i in range(80)])  # fmt: skip
    refused(files, "learn", "past.csv", "--target", "converted", "--events", "events.csv",
            "-o", "m.yaml", words=("events.csv: none of its 1 events belongs to a lead",
                                   "look like 'a'"), fast=True)  # fmt: skip


def test_warnings_for_models_and_times_that_are_likely_mistakes(files: Path) -> None:
    model = MODEL.replace("max_per_day: 1\n", "max_per_day: 1\n      category: intnet\n")
    model = model.replace("half_life_days: 10\n", "half_life_days: 10\n  categories:\n"
                          "    intent: {max: 30}\n")  # fmt: skip
    (files / "typo.yaml").write_text(model)
    checked = in_process("validate", "typo.yaml", cwd=files)
    assert checked.returncode == 0
    assert "category 'intnet' has no cap" in checked.stderr and "'intent'?" in checked.stderr
    early = in_process("score", "model.yaml", "leads.csv", "--events", "events.csv",
                       "--as-of", "2020-01-01", "-o", "s.csv", "-q", cwd=files)  # fmt: skip
    assert early.returncode == 0 and "every event is after the time scored as of" in early.stderr
    assert "2020-01-01T00:00:00Z" in early.stderr


def test_review_names_the_challenger_and_does_not_judge_unseen_events(files: Path) -> None:
    write_csv(files / "past.csv", [{"lead_id": f"L{i}", "employees": str(i * 11),
                                   "domain": "x.io", "converted": str(i % 3 == 0)}
                                  for i in range(60)])  # fmt: skip
    (files / "other.yaml").write_text(MODEL.replace("employees", "headcount"))
    refused(files, "review", "model.yaml", "past.csv", "--target", "converted", "--compare",
            "other.yaml", "-o", "r.html",
            words=("reads column 'headcount'", "(in the --compare model other.yaml)"),
            fast=True)  # fmt: skip
    done = in_process("review", "model.yaml", "past.csv", "--target", "converted", "-o",
                      "r.html", "--json", "r.json", "-q", cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rules = json.loads((files / "r.json").read_text())["rules"]
    assert rules["not_judged"] == ["pricing"] and "pricing" not in rules["to_revisit"]
