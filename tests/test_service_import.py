"""`leadscore import`: files into the service's database, scored by the batch engine as
`leadscore score` scores them; bad files refused with file, row and column."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from leadscore.cli import app as cli
from leadscore.service.core import prepare_database
from leadscore.service.settings import Settings
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Event, Lead, LedgerEntry, Score
from leadscore.service.times import iso
from tests.service_support import EXAMPLE_MODEL, api, fresh_postgres


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    cli(["generate", "--leads", "400", "--seed", "5", "-o", str(folder)], standalone_mode=False)
    return folder


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/service.db"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    prepare_database(Settings(db=url), [EXAMPLE_MODEL]).close()
    return url


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", *args], capture_output=True, text=True
    )


def counts(url: str) -> dict[str, int]:
    db = Database(url)
    with db.read() as conn:
        out = {
            t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Lead, Event, Score, LedgerEntry)
        }
    db.dispose()
    return out


def import_generated(data, db_url: str) -> subprocess.CompletedProcess:
    done = run(
        "import",
        str(data / "leads.parquet"),
        "--events",
        str(data / "events.parquet"),
        "--db",
        db_url,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_import_scores_as_the_batch_command_does(db_url, data, tmp_path):
    done = import_generated(data, db_url)
    n_events = pq.read_metadata(data / "events.parquet").num_rows
    assert f"imported 400 leads and {n_events:,} events" in done.stdout
    assert counts(db_url) == {"leads": 400, "events": n_events, "scores": 400, "ledger": 400}
    db = Database(db_url)
    with db.read() as conn:
        stored = {r.lead_id: r for r in conn.execute(select(Score.__table__))}
    db.dispose()
    as_of = iso(next(iter(stored.values())).scored_at)
    cli(
        [
            "score",
            str(EXAMPLE_MODEL),
            str(data / "leads.parquet"),
            "--events",
            str(data / "events.parquet"),
            "--as-of",
            as_of,
            "-o",
            str(tmp_path / "out.parquet"),
        ],
        standalone_mode=False,
    )
    batch = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert len(batch) == 400
    for b in batch:
        s = stored[str(b["lead_id"])]
        assert s.score == pytest.approx(b["score"], abs=1e-6)
        assert (s.grade, s.label, s.mql) == (b["grade"], b["label"], b["mql"])
        assert s.stage == ("mql" if b["mql"] else "open")
        assert [r["rule"] for r in json.loads(s.reasons)] == [
            r["rule"] for r in json.loads(b["reasons"])
        ]
    # The same files again: nothing new.
    again = run(
        "import",
        str(data / "leads.parquet"),
        "--events",
        str(data / "events.parquet"),
        "--db",
        db_url,
    )
    assert again.returncode == 0, again.stderr
    assert f"imported 400 leads and 0 events ({n_events:,} events already stored)" in again.stdout
    assert counts(db_url)["events"] == n_events


def test_import_adds_to_a_database_that_has_leads(db_url, tmp_path):
    with api(db_url) as service:
        service.post(
            "/api/v1/leads",
            "ingest",
            json={
                "leads": [
                    {"lead_id": "old", "attributes": {"title": "VP Sales", "industry": "software"}}
                ]
            },
        )
        leads = pa.table({"lead_id": ["old", "new"], "employees": ["300", "10"]})
        pq.write_table(leads, tmp_path / "leads.parquet")
        (tmp_path / "events.csv").write_text(
            "lead_id,event,timestamp,url\nold,demo_request,2026-11-30T10:00:00Z,\n"
            "new,page_view,1764496800,/pricing\nghost,page_view,1764496800,/x\n"
        )
        done = run(
            "import",
            str(tmp_path / "leads.parquet"),
            "--events",
            str(tmp_path / "events.csv"),
            "--db",
            db_url,
        )
        assert done.returncode == 0, done.stderr
        assert "1 events belong to leads that are neither" in done.stderr
        old = service.get("/api/v1/leads/old").json()
        assert old["attributes"] == {
            "title": "VP Sales",
            "industry": "software",
            "employees": "300",
        }
        listed = {r["lead_id"]: r for r in service.get("/api/v1/leads").json()["data"]}
        assert listed["old"]["score"] == pytest.approx(old["scores"]["b2b-saas"]["score"], abs=0.01)
        assert {r["rule"] for r in listed["old"]["reasons"]} >= {"demo request", "mid-market"}
        assert "new" in listed


@pytest.mark.parametrize(
    ("leads", "events", "message"),
    [
        ("id,title\n1,CEO\n", None, "no id column 'lead_id'"),
        (
            "lead_id,title\n1,CEO\n1,CTO\n",
            None,
            "row 2 column 'lead_id': duplicate lead id '1' (also in row 1)",
        ),
        (
            "lead_id\n1\n",
            "lead_id,event,timestamp\n1,open,2026-01-01\n1,open,soon\n",
            "events.csv row 2 column 'timestamp':",
        ),
        ("lead_id\n1\n", "lead_id,event\n1,open\n", "no 'timestamp' column"),
        (
            "lead_id\n1\n",
            "lead_id,event,timestamp\n1,,2026-01-01\n",
            "row 1 column 'event': the event is empty",
        ),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(tmp_path, leads, events, message):
    url = f"sqlite:///{tmp_path}/service.db"
    (tmp_path / "leads.csv").write_text(leads)
    args = ["import", str(tmp_path / "leads.csv"), "--db", url]
    if events is not None:
        (tmp_path / "events.csv").write_text(events)
        args += ["--events", str(tmp_path / "events.csv")]
    done = run(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert counts(url) == {"leads": 0, "events": 0, "scores": 0, "ledger": 0}


def test_a_file_that_is_not_there(tmp_path):
    done = run("import", str(tmp_path / "nope.csv"), "--db", f"sqlite:///{tmp_path}/s.db")
    assert done.returncode == 2 and "nope.csv" in done.stderr and "Traceback" not in done.stderr


def test_events_after_an_import_continue_from_the_states_it_made(db_url, data, tmp_path):
    """The import leaves every lead's engagement state made by the batch engine: events
    sent afterwards (late ones too) give the scores `leadscore score` gives on the files
    with those events added, without reading the history again (the test removes it)."""
    import random
    import time

    from sqlalchemy import delete

    import_generated(data, db_url)
    db = Database(db_url)
    with db.write() as conn:
        states = dict(conn.execute(select(Lead.lead_id, Lead.engagement)).all())
        conn.execute(delete(Event))  # what the states hold is all the service has now
    db.dispose()
    assert len(states) == 400
    assert all(json.loads(v)["b2b-saas"]["v"] == "1" for v in states.values())
    rng = random.Random(7)
    chosen = rng.sample(sorted(states), 25)
    now = time.time()
    kinds = [("page_view", {"url": "/pricing"}), ("email_click", {}), ("webinar_attended", {})]
    sent = []
    for i, lead_id in enumerate(chosen * 2):
        event, props = rng.choice(kinds)
        when = now - rng.choice([60, 3 * 86400, 20 * 86400, 200 * 86400])  # late ones too
        sent.append(
            {
                "event_id": f"after-{i}",
                "lead_id": lead_id,
                "event": event,
                "timestamp": when,
                "properties": props,
            }
        )
    with api(db_url) as service:
        r = service.post("/api/v1/events", "ingest", json={"events": sent})
        assert r.status_code == 200, r.text
        got = {k: service.get(f"/api/v1/leads/{k}").json()["scores"]["b2b-saas"] for k in chosen}
    rows = [
        {**e, "event_id": str(e["event_id"]), "lead_id": str(e["lead_id"])}
        for e in pq.read_table(data / "events.parquet").to_pylist()
    ]
    rows += [
        {
            "event_id": e["event_id"],
            "lead_id": e["lead_id"],
            "event": e["event"],
            "timestamp": e["timestamp"],
            "url": e["properties"].get("url"),
        }
        for e in sent
    ]
    pq.write_table(
        pa.table(
            {
                "event_id": pa.array([r["event_id"] for r in rows], pa.string()),
                "lead_id": pa.array([r["lead_id"] for r in rows], pa.string()),
                "event": pa.array([r["event"] for r in rows], pa.string()),
                "timestamp": pa.array(
                    [
                        r["timestamp"]
                        if isinstance(r["timestamp"], float)
                        else r["timestamp"].timestamp()
                        for r in rows
                    ],
                    pa.float64(),
                ),
                "url": pa.array([r.get("url") for r in rows], pa.string()),
            }
        ),
        tmp_path / "all.parquet",
    )
    as_of = max(g["as_of"] for g in got.values())
    cli(
        [
            "score",
            str(EXAMPLE_MODEL),
            str(data / "leads.parquet"),
            "--events",
            str(tmp_path / "all.parquet"),
            "--as-of",
            as_of,
            "-o",
            str(tmp_path / "out.parquet"),
        ],
        standalone_mode=False,
    )
    batch = {str(b["lead_id"]): b for b in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    for lead_id, g in got.items():
        b = batch[lead_id]
        # The reads come milliseconds apart: decay moves a score by far less than this.
        assert g["score"] == pytest.approx(b["score"], abs=1e-3), lead_id
        assert (g["grade"], g["label"], g["mql"]) == (b["grade"], b["label"], b["mql"]), lead_id
