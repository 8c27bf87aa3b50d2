"""`leadscore import`: leads and events files into the service's database, in bulk.

DuckDB reads and checks the files (the same checks and the same text forms as
`leadscore score`), writes each lead's attributes and each event's properties as JSON,
and the rows go in through the database's bulk path: COPY on PostgreSQL, one prepared
INSERT run over batches of rows on SQLite. Everything goes in one transaction (nothing
half-written); then every active model scores the leads with the batch engine.

Leads that exist are updated like POST /api/v1/leads (the file's non-empty values set,
others kept). Events without an `event_id` get one made from their content (lead, event,
time, properties, and the occurrence among identical rows), so that importing the same
file twice adds nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
from sqlalchemy import Connection, func, select

from leadscore.compile.dialects import dialect_for
from leadscore.engines import DuckDBEngine
from leadscore.engines.base import fresh_name
from leadscore.engines.canonical import (
    EVENT_REQUIRED,
    ROW,
    epoch_seconds,
    first_bad_timestamp,
    text_form,
)
from leadscore.errors import DataError, column_list, no_column
from leadscore.inputs import check_ids
from leadscore.service.batch_rescore import batch_scores, snapshot, write_scores
from leadscore.service.online import VersionCache
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Lead

Progress = Callable[[str, float], None]
BATCH = 50_000


@dataclass
class ImportResult:
    leads: int = 0
    events: int = 0
    duplicates: int = 0
    skipped: int = 0
    models: str = ""
    warnings: list[str] = field(default_factory=list)


def import_files(
    db: Database,
    leads_path: Path,
    events_path: Path | None,
    *,
    id_column: str = "lead_id",
    progress: Progress | None = None,
) -> ImportResult:
    result = ImportResult()
    engine = DuckDBEngine()
    con = engine.con.con
    say = progress or (lambda _phase, _done: None)
    say("reading files", 0)
    leads_view = _leads_json(engine, leads_path, id_column)
    events_view = None
    if events_path is not None:
        events_view = _events_json(engine, events_path)
    say("reading files", 100)

    with db.read() as conn:
        had_leads = conn.execute(select(func.count()).select_from(Lead)).scalar_one()
    known = f"(SELECT lead_id FROM {leads_view})"
    if had_leads and events_view is not None:
        with db.read() as conn:
            ids = list(conn.execute(select(Lead.lead_id)).scalars())
        import pyarrow as pa

        con.register("ls_db_leads", pa.table({"lead_id": pa.array(ids, pa.string())}))
        known = f"(SELECT lead_id FROM {leads_view} UNION SELECT lead_id FROM ls_db_leads)"
    latest = "NULL::DOUBLE AS last_event_at"
    if events_view is not None:
        orphans = con.execute(
            f"SELECT count(*) FROM {events_view} WHERE lead_id NOT IN {known}"
        ).fetchone()[0]
        if orphans:
            result.skipped = orphans
            result.warnings.append(
                f"{orphans:,} events belong to leads that are neither in {leads_path.name} nor "
                "in the database; they were not imported"
            )
        con.execute(
            f"CREATE TEMP TABLE ls_latest AS SELECT lead_id, max(ts) AS ts "
            f"FROM {events_view} GROUP BY lead_id"
        )
        latest = "ls_latest.ts AS last_event_at"
    lead_sql = f"SELECT l.lead_id, l.attributes, {latest} FROM {leads_view} l" + (
        " LEFT JOIN ls_latest USING (lead_id)" if events_view is not None else ""
    )
    event_sql = None
    if events_view is not None:
        event_sql = (
            f"SELECT event_id, lead_id, event, ts, properties FROM {events_view} "
            f"WHERE lead_id IN {known}"
        )
    now = time.time()
    with db.write() as conn:
        say("loading leads", 0)
        result.leads = _load(conn, con, "leads", lead_sql, now)
        say("loading leads", 100)
        if event_sql is not None:
            say("loading events", 0)
            total = con.execute(f"SELECT count(*) FROM ({event_sql})").fetchone()[0]
            inserted = _load(
                conn,
                con,
                "events",
                event_sql,
                now,
                lambda n: say("loading events", 100 * n / max(total, 1)),
            )
            result.events = inserted
            result.duplicates = total - inserted
            say("loading events", 100)
    if events_view is not None and had_leads:
        with db.write() as conn:  # leads already stored: their latest event may be new
            _refresh_latest(conn)
    result.models = _score(db, say)
    return result


def _leads_json(engine: DuckDBEngine, path: Path, id_column: str) -> str:
    """A view of the leads: lead_id (text), attributes (JSON of the non-empty text forms)."""
    raw = engine.open(path)
    columns = engine.columns(raw)
    if id_column not in columns:
        raise no_column(str(path), "id column", id_column, columns, "; name it with --id")
    check_ids(engine, raw, str(path), id_column)
    attrs = [c for c in columns if c != id_column]
    view = engine.view(
        raw.select(
            lead_id=text_form(raw[id_column]),
            **{f"a{i}": text_form(raw[c]) for i, c in enumerate(attrs)},
        )
    )
    name = fresh_name("leads_json")
    engine.con.con.execute(
        f"CREATE TEMP VIEW {name} AS SELECT lead_id, {_json_object(attrs)} AS attributes "
        f"FROM {view.get_name()}"
    )
    return name


def _events_json(engine: DuckDBEngine, path: Path) -> str:
    raw = engine.open(path)
    columns = engine.columns(raw)
    for column in EVENT_REQUIRED:
        if column not in columns:
            raise DataError(
                str(path),
                f"no {column!r} column; events need lead_id, event and "
                f"timestamp (columns: {column_list(columns)})",
                column=column,
            )
    regex = dialect_for(engine.dialect).regex
    for row in engine.fetch(first_bad_timestamp(raw, engine.epoch_us, regex)):
        raise DataError(
            str(path),
            f"{row['value']!r} is not a time",
            row=engine.row_number(raw, row["row"]),
            column="timestamp",
        )
    bad = raw.filter(text_form(raw.event).isnull() | (text_form(raw.event) == ""))
    for row in engine.fetch(bad.select(row=bad[ROW]).order_by("row").limit(1)):
        raise DataError(
            str(path), "the event is empty", row=engine.row_number(raw, row["row"]), column="event"
        )
    for row in engine.fetch(
        raw.filter(text_form(raw.lead_id).isnull()).select(row=raw[ROW]).limit(1)
    ):
        raise DataError(
            str(path),
            "the lead id is empty",
            row=engine.row_number(raw, row["row"]),
            column="lead_id",
        )
    props = [c for c in columns if c not in (*EVENT_REQUIRED, "event_id")]
    given_id = text_form(raw.event_id) if "event_id" in columns else ibis.null("string")
    view = engine.view(
        raw.select(
            given_id=given_id,
            lead_id=text_form(raw.lead_id),
            event=text_form(raw.event),
            ts=epoch_seconds(raw.timestamp, engine.epoch_us, regex),
            row=raw[ROW],
            **{f"p{i}": text_form(raw[c]) for i, c in enumerate(props)},
        )
    )
    name = fresh_name("events_json")
    engine.con.con.execute(
        f"""CREATE TEMP VIEW {name} AS
        WITH j AS (SELECT *, {_json_object(props, "p")} AS properties FROM {view.get_name()})
        SELECT coalesce(nullif(given_id, ''), 'imp_' || md5(concat_ws(chr(31), lead_id, event,
                   CAST(ts AS VARCHAR), properties,
                   CAST(row_number() OVER (PARTITION BY lead_id, event, ts, properties ORDER BY row)
                        AS VARCHAR)))) AS event_id,
               lead_id, event, ts, properties
        FROM j"""
    )
    return name


def _json_object(names: list[str], prefix: str = "a") -> str:
    """A JSON object of the non-null columns {prefix}0.. under their original names."""
    if not names:
        return "'{}'"
    entries = ", ".join(f"{{'k': {_literal(n)}, 'v': {prefix}{i}}}" for i, n in enumerate(names))
    kept = f"list_filter([{entries}], e -> e.v IS NOT NULL)"
    return f"CAST(to_json(map_from_entries({kept})) AS VARCHAR)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- the bulk path ----------------------------------------------------------------------


def _load(
    conn: Connection,
    con: Any,
    table: str,
    sql: str,
    now: float,
    progress: Callable[[int], None] | None = None,
) -> int:
    if conn.dialect.name == "postgresql":
        return _copy_postgres(conn, con, table, sql, now)
    return _insert_sqlite(conn, con, table, sql, now, progress)


def _batches(con: Any, sql: str) -> Iterator[list[tuple]]:
    reader = con.execute(sql).fetch_record_batch(BATCH)
    for batch in reader:
        columns = [c.to_pylist() for c in batch.columns]
        yield list(zip(*columns, strict=True))


_SQLITE = {
    "leads": (
        "INSERT INTO leads (lead_id, attributes, last_event_at, created_at, updated_at, revision) "
        "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (lead_id) DO UPDATE SET "
        "attributes = json_patch(leads.attributes, excluded.attributes), "
        "last_event_at = max(coalesce(leads.last_event_at, excluded.last_event_at), "
        "coalesce(excluded.last_event_at, leads.last_event_at)), "
        "updated_at = excluded.updated_at, revision = leads.revision + 1"
    ),
    "events": (
        "INSERT INTO events (event_id, lead_id, event, ts, properties, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
    ),
}


def _insert_sqlite(
    conn: Connection,
    con: Any,
    table: str,
    sql: str,
    now: float,
    progress: Callable[[int], None] | None,
) -> int:
    cursor = conn.connection.driver_connection.cursor()
    done = changed = 0
    for rows in _batches(con, sql):
        rows = [(*r, now, now) for r in rows] if table == "leads" else [(*r, now) for r in rows]
        before = conn.connection.driver_connection.total_changes
        cursor.executemany(_SQLITE[table], rows)
        changed += conn.connection.driver_connection.total_changes - before
        done += len(rows)
        if progress:
            progress(done)
    cursor.close()
    return changed if table == "events" else done


def _copy_postgres(conn: Connection, con: Any, table: str, sql: str, now: float) -> int:
    raw = conn.connection.driver_connection
    stage = f"ls_import_{table}"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"{table}.csv"
        con.execute(f"COPY ({sql}) TO '{file}' (FORMAT csv, HEADER false)")
        with raw.cursor() as cur:
            if table == "leads":
                cur.execute(
                    f"CREATE TEMP TABLE {stage} (lead_id text, attributes jsonb, "
                    "last_event_at double precision) ON COMMIT DROP"
                )
            else:
                cur.execute(
                    f"CREATE TEMP TABLE {stage} (event_id text, lead_id text, event text, "
                    "ts double precision, properties jsonb) ON COMMIT DROP"
                )
            with (
                file.open("rb") as f,
                cur.copy(f"COPY {stage} FROM STDIN WITH (FORMAT csv)") as copy,
            ):
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            if table == "leads":
                cur.execute(
                    "INSERT INTO leads (lead_id, attributes, last_event_at, created_at, "
                    "updated_at, revision) SELECT lead_id, attributes, last_event_at, %s, %s, 1 "
                    f"FROM {stage} "
                    "ON CONFLICT (lead_id) DO UPDATE SET attributes = leads.attributes || "
                    "excluded.attributes, last_event_at = GREATEST(leads.last_event_at, "
                    "excluded.last_event_at), updated_at = excluded.updated_at, "
                    "revision = leads.revision + 1",
                    (now, now),
                )
                n = cur.rowcount
            else:
                cur.execute(
                    "INSERT INTO events (event_id, lead_id, event, ts, properties, received_at) "
                    f"SELECT event_id, lead_id, event, ts, properties, %s FROM {stage} "
                    "ON CONFLICT (event_id) DO NOTHING",
                    (now,),
                )
                n = cur.rowcount
            cur.execute(f"DROP TABLE {stage}")
    return n


def _refresh_latest(conn: Connection) -> None:
    """last_event_at for leads that were stored before the import got new events."""
    conn.exec_driver_sql(
        "UPDATE leads SET last_event_at = (SELECT max(ts) FROM events e "
        "WHERE e.lead_id = leads.lead_id) "
        "WHERE EXISTS (SELECT 1 FROM events e WHERE e.lead_id = leads.lead_id)"
    )


def _score(db: Database, say: Progress) -> str:
    """Every active model scores every lead (the batch engine); their names."""
    cache = VersionCache()
    with db.read() as conn:
        versions = cache.active(conn)
    for version in versions:
        phase = f"scoring ({version.name})"
        say(phase, 0)
        now = time.time()
        with db.read() as conn:
            snap = snapshot(conn, version, now)
        scores = batch_scores(version, snap, now)
        write_scores(
            db,
            version,
            snap,
            scores,
            {"kind": "import"},
            now,
            atomic=True,
            progress=lambda done, total, p=phase: say(p, 100 * done / max(total, 1)),
        )
        say(phase, 100)
    return ", ".join(f"{v.name} v{v.version}" for v in versions)
