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
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import Connection, func, select, update

from leadscore.batch import score_inputs
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
from leadscore.inputs import Inputs, _time_problem, check_ids, prepare
from leadscore.service.batch_rescore import (
    BatchScore,
    Snapshot,
    batch_scores,
    lead_scores,
    snapshot,
    write_scores,
)
from leadscore.service.bulk_engagement import States, batch_states
from leadscore.service.gc_pause import many_objects
from leadscore.service.online import CompiledVersion, VersionCache
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Lead
from leadscore.values import text_form as text_form_of

Progress = Callable[[str, float], None]
IMPORT_CACHE_KIB = 2 * 1024 * 1024  # 2 GiB at most, taken as pages are needed
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
    leads_raw, leads_view = _leads_json(engine, leads_path, id_column)
    events = None
    if events_path is not None:
        events = _events_read(engine, events_path)
    events_view = None if events is None else f"({events.rows_sql})"
    say("reading files", 100)

    with db.read() as conn:
        had_leads = conn.execute(select(func.count()).select_from(Lead)).scalar_one()
    known = f"(SELECT lead_id FROM {leads_view})"
    if had_leads and events_view is not None:
        with db.read() as conn:
            ids = list(conn.execute(select(Lead.lead_id)).scalars())
        con.register("ls_db_leads", pa.table({"lead_id": pa.array(ids, pa.string())}))
        known = f"(SELECT lead_id FROM {leads_view} UNION SELECT lead_id FROM ls_db_leads)"
    latest = "NULL::DOUBLE AS last_event_at"
    if events_view is not None:
        orphans = con.execute(
            f"SELECT count(*) FROM {events.table} WHERE lead_id NOT IN {known}"
        ).fetchone()[0]
        if orphans:
            result.skipped = orphans
            result.warnings.append(
                f"{orphans:,} events belong to leads that are neither in {leads_path.name} nor "
                "in the database; they were not imported"
            )
        con.execute(
            f"CREATE TEMP TABLE ls_latest AS SELECT lead_id, max(ts) AS ts "
            f"FROM {events.table} GROUP BY lead_id"
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
            if inserted:  # events came in past the leads' engagement states: rebuilt
                conn.execute(  # on their next change
                    update(Lead).where(Lead.engagement.is_not(None)).values(engagement=None)
                )
            say("loading events", 100)
        # What the batch scores below is this: a lead changed after it (by a running
        # service) is scored again online when the scores are written.
        revisions = _revisions(conn)
    db.analyze()
    if events_view is not None and had_leads:
        with db.write() as conn:  # leads already stored: their latest event may be new
            _refresh_latest(conn)
    if had_leads:  # other leads and events were there: score what the database holds
        result.models = _score_stored(db, say)
    else:  # all of it came from these files: DuckDB scores them where it read them
        result.models = _score_files(db, engine, leads_raw, events, id_column, revisions, say)
    return result


def _leads_json(engine: DuckDBEngine, path: Path, id_column: str) -> tuple[ir.Table, str]:
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
    return raw, name


@dataclass
class EventsRead:
    """The events file read once into DuckDB: ids made, times read, properties as text."""

    table: str  # event_id, lead_id, event, ts, _ls_row, p0.. (the properties' text forms)
    properties: list[str]

    @property
    def rows_sql(self) -> str:
        """The rows as the service stores them (properties as JSON)."""
        return (
            f"SELECT event_id, lead_id, event, ts, {_json_object(self.properties, 'p')} "
            f"AS properties FROM {self.table}"
        )

    @property
    def scoring_sql(self) -> str:
        """The rows as the batch engine reads an events file, with the ids stored."""
        props = "".join(f", p{i} AS {_quoted(n)}" for i, n in enumerate(self.properties))
        return f"SELECT event_id, lead_id, event, ts AS timestamp{props}, {ROW} FROM {self.table}"


def _events_read(engine: DuckDBEngine, path: Path) -> EventsRead:
    raw = engine.open(path)
    columns = engine.columns(raw)
    for column in EVENT_REQUIRED:
        if column not in columns:
            raise DataError(
                str(path),
                f"no {column!r} column; events need lead_id, event and timestamp "
                f"(columns: {column_list(columns)})",
                column=column,
            )
    regex = dialect_for(engine.dialect).regex
    for row in engine.fetch(first_bad_timestamp(raw, engine.epoch_us, regex)):
        raise DataError(
            str(path),
            _time_problem(row["value"]),
            row=engine.row_number(raw, row["row"]),
            column="timestamp",
        )
    for column, what in (("event", "the event is empty"), ("lead_id", "the lead id is empty")):
        text = text_form(raw[column])
        bad = raw.filter(text.isnull() | (text.strip() == ""))
        for row in engine.fetch(bad.select(row=bad[ROW]).order_by("row").limit(1)):
            raise DataError(str(path), what, row=engine.row_number(raw, row["row"]), column=column)
    props = [c for c in columns if c not in (*EVENT_REQUIRED, "event_id")]
    given_id = text_form(raw.event_id) if "event_id" in columns else ibis.null("string")
    view = engine.view(
        raw.select(
            given_id=given_id,
            lead_id=text_form(raw.lead_id),
            event=text_form(raw.event),
            ts=epoch_seconds(raw.timestamp, engine.epoch_us, regex),
            **{ROW: raw[ROW]},
            **{f"p{i}": text_form(raw[c]) for i, c in enumerate(props)},
        )
    )
    table = fresh_name("events_read")
    content = ", ".join(
        [
            "lead_id",
            "event",
            "CAST(ts AS VARCHAR)",
            *(f"coalesce(p{i}, chr(30))" for i in range(len(props))),
        ]
    )
    engine.con.con.execute(
        f"""CREATE TEMP TABLE {table} AS
        SELECT coalesce(nullif(given_id, ''), 'imp_' || md5(concat_ws(chr(31), {content},
                   CAST(row_number() OVER (PARTITION BY {content} ORDER BY {ROW}) AS VARCHAR))))
                   AS event_id,
               * EXCLUDE (given_id)
        FROM {view.get_name()}"""
    )
    return EventsRead(table, props)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
        with many_objects():
            columns = [c.to_pylist() for c in batch.columns]
            rows = list(zip(*columns, strict=True))
        yield rows


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
    # Millions of keys go into the events' indexes in no order: with SQLite's default
    # 2 MB of page cache, most of them wait for a page read back from the file.
    cursor.execute(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
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


ScoresOf = Callable[[CompiledVersion, float], tuple[Snapshot, dict[str, BatchScore], States]]


def _score_files(
    db: Database,
    engine: DuckDBEngine,
    leads_raw: ir.Table,
    events: EventsRead | None,
    id_column: str,
    revisions: dict[str, int],
    say: Progress,
) -> str:
    """Every active model scores the files' leads in DuckDB, where it read them."""
    events_raw = None
    if events is not None:
        name = fresh_name("events_scored")
        engine.con.con.execute(f"CREATE TEMP VIEW {name} AS {events.scoring_sql}")
        events_raw = engine.con.table(name)

    def scores_of(version: CompiledVersion, now: float) -> tuple[Snapshot, dict, States]:
        inputs = _inputs(engine, version, leads_raw, events_raw, id_column)
        table, _ = score_inputs(
            engine, version.model, inputs, as_of=now, predictive_file=version.predictive_file
        )
        with db.read() as conn:
            snap = Snapshot(None, None, revisions, _accounts(conn, version))
        states = batch_states(engine, version, inputs.events, now)
        keyed = {text_form_of(k): v for k, v in states.items()}
        return snap, lead_scores(engine.to_arrow(table), key=text_form_of), keyed

    return _score_all(db, say, scores_of)


def _score_stored(db: Database, say: Progress) -> str:
    """Every active model scores every stored lead (the batch engine)."""

    def scores_of(version: CompiledVersion, now: float) -> tuple[Snapshot, dict, States]:
        with db.read() as conn:
            snap = snapshot(conn, version, now)
        scores, states = batch_scores(version, snap, now, states=True)
        return snap, scores, states or {}

    return _score_all(db, say, scores_of)


def _score_all(db: Database, say: Progress, scores_of: ScoresOf) -> str:
    """Each active version's batch scores recorded (cause `import`); the versions' names."""
    with db.read() as conn:
        versions = VersionCache().active(conn)
    for version in versions:
        phase = f"scoring ({version.name})"
        say(phase, 0)
        now = time.time()
        snap, scores, states = scores_of(version, now)
        write_scores(
            db,
            version,
            snap,
            scores,
            {"kind": "import"},
            now,
            atomic=True,
            progress=lambda done, total, p=phase: say(p, 100 * done / max(total, 1)),
            states=states,
        )
        say(phase, 100)
    return ", ".join(f"{v.name} v{v.version}" for v in versions)


def _inputs(
    engine: DuckDBEngine,
    version: CompiledVersion,
    leads: ir.Table,
    events: ir.Table | None,
    id_column: str,
) -> Inputs:
    """The files as the model reads them. A column the model reads and a file lacks is an
    attribute no lead has, as the service sees it: missing (`leadscore score` refuses it,
    for a file is expected to hold what its model reads)."""
    plan = version.plan
    if events is None:  # no events file: leads with no events (inactive), as online
        empty = {c: pa.array([], pa.string()) for c in ("lead_id", "event", "event_id")}
        events = engine.from_arrow(pa.table({**empty, "timestamp": pa.array([], pa.float64())}))
    absent = {c: ibis.null("string") for c in plan.lead_columns if c not in leads.columns}
    leads = leads.mutate(**absent) if absent else leads
    absent = {c: ibis.null("string") for c in plan.event_columns if c not in events.columns}
    events = events.mutate(**absent) if absent else events
    return prepare(
        engine,
        version.model,
        leads,
        events,
        leads_name="leads",
        events_name="events",
        id_column=id_column,
    )


def _revisions(conn: Connection) -> dict[str, int]:
    query = select(Lead.lead_id, Lead.revision)
    return {r.lead_id: r.revision for r in conn.execute(query).yield_per(100_000)}


def _accounts(conn: Connection, version: CompiledVersion) -> dict[str, str | None]:
    if version.model.accounts is None:
        return {}
    query = select(Lead.lead_id, Lead.attributes)
    return {
        r.lead_id: version.account_of(r.attributes or {})
        for r in conn.execute(query).yield_per(50_000)
    }
