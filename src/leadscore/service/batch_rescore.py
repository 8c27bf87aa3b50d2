"""Rescoring every lead with the batch engine: an activation, the sweep, an import.

The columns the model reads (and no others) are read out of the service's database into
Arrow, with only the events that the model's windows can count; the batch engine (DuckDB)
scores them in one query; the scores go back through `changes.record`, so that lifecycle
and ledger follow the same rules as online. A lead that changed while the batch ran
(its revision moved) is scored again online in the writing transaction: nothing newer is
overwritten by an older batch result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, func, select

from leadscore.batch import score_inputs
from leadscore.engines import DuckDBEngine
from leadscore.inputs import prepare
from leadscore.one_lead import LeadScore
from leadscore.service import changes, ingest
from leadscore.service.bulk_engagement import States, batch_states, save_states
from leadscore.service.changes import Scored, reasons_text
from leadscore.service.gc_pause import many_objects
from leadscore.service.online import (
    ID_COLUMN,
    CompiledVersion,
    needs_of,
)
from leadscore.service.store.database import Database, id_chunks
from leadscore.service.store.tables import Event, Lead
from leadscore.timeutil import SECONDS_PER_DAY
from leadscore.values import text_form

Progress = Callable[[int, int], None]  # (done, total)
WRITE_CHUNK = 5000
# An event type no rule can name (names are not empty): it carries a lead's latest event
# time to the batch engine when the events read are cut by windows.
LATEST_MARK = ""


@dataclass
class Snapshot:
    """What the batch engine scored: the tables, and each lead's revision and account."""

    leads: pa.Table
    events: pa.Table | None
    revisions: dict[str, int]
    accounts: dict[str, str | None]


def snapshot(conn: Connection, version: CompiledVersion, now: float) -> Snapshot:
    return read_tables(conn, [version], now)


def read_tables(conn: Connection, versions: list[CompiledVersion], now: float) -> Snapshot:
    """Every lead with the columns the versions read, and the events they can count (the
    widest window of any), as the batch engine reads them. The first version names the
    accounts."""
    version = versions[0]
    columns = sorted(set().union(*(v.plan.lead_columns for v in versions)) - {ID_COLUMN})
    if version.model.accounts is not None and version.model.accounts.key not in columns:
        columns.append(version.model.accounts.key)
    ids, revisions, accounts, latest = [], {}, {}, {}
    values: dict[str, list[Any]] = {c: [] for c in columns}
    query = select(Lead.lead_id, Lead.attributes, Lead.revision, Lead.last_event_at)
    with many_objects():
        for r in conn.execute(query.order_by(Lead.lead_id)).yield_per(20_000):
            attrs = r.attributes or {}
            ids.append(r.lead_id)
            revisions[r.lead_id] = r.revision
            accounts[r.lead_id] = version.account_of(attrs)
            if r.last_event_at is not None:
                latest[r.lead_id] = r.last_event_at
            for c in columns:
                values[c].append(attrs.get(c))
    table = {ID_COLUMN: pa.array(ids, pa.string())} | {c: _column(v) for c, v in values.items()}
    leads = pa.table(table)
    events = None
    if any(v.plan.has_engagement or v.model.predictive is not None for v in versions):
        inactivity = any(v.plan.inactivity for v in versions)
        events = _events(conn, versions, now, latest if inactivity else {})
    return Snapshot(leads, events, revisions, accounts)


def _column(values: list[Any]) -> pa.Array:
    """One attribute as a column; a column of mixed types is read in its text form, as a
    text file would give it."""
    try:
        array = pa.array(values)
        return array.cast(pa.string()) if pa.types.is_null(array.type) else array
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([text_form(v) for v in values], pa.string())


def _events(
    conn: Connection, versions: list[CompiledVersion], now: float, latest: dict[str, float]
) -> pa.Table:
    needs = needs_of(versions)
    props = sorted(set().union(*(v.plan.event_columns for v in versions)))
    cols: dict[str, list[Any]] = {
        k: [] for k in (ID_COLUMN, "event_id", "event", "timestamp", *props)
    }
    if needs:
        # The driver's cursor, the database taking the properties out of their JSON:
        # millions of rows, where SQLAlchemy's rows and Python's json cost a minute.
        sql, params = _events_sql(conn, props, needs, now)
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute(sql, params)
        names = [ID_COLUMN, "event_id", "event", "timestamp", *props]
        with many_objects():  # millions of new tuples: each collection would walk them all
            while rows := cursor.fetchmany(50_000):
                for name, values in zip(names, zip(*rows, strict=True), strict=True):
                    cols[name].extend(values)
        cursor.close()
    if latest:  # inactivity: each lead's latest event up to now, as an event no rule reads
        late = [k for k, t in latest.items() if t > now]
        for k, t in _latest_before(conn, late, now).items():
            latest[k] = t
        for k, t in latest.items():
            if t is None or t > now:
                continue
            cols[ID_COLUMN].append(k)
            cols["event_id"].append("")
            cols["event"].append(LATEST_MARK)
            cols["timestamp"].append(t)
            for c in props:
                cols[c].append(None)
    table = {
        ID_COLUMN: pa.array(cols[ID_COLUMN], pa.string()),
        "event_id": pa.array(cols["event_id"], pa.string()),
        "event": pa.array(cols["event"], pa.string()),
        "timestamp": pa.array(cols["timestamp"], pa.float64()),
    } | {c: _column(cols[c]) for c in props}
    return pa.table(table)


def _events_sql(
    conn: Connection, props: list[str], needs: dict[str, float | None], now: float
) -> tuple[str, list[Any]]:
    """The events a version reads, with each property it reads as a column of its own."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    params: list[Any] = []
    columns = []
    for prop in props:
        if sqlite:  # JSON booleans as the text the one-lead scorer reads them as
            path = '$."' + prop.replace('"', '""') + '"'
            columns.append(
                f"CASE json_type(properties, {mark}) WHEN 'true' THEN 'true' "
                f"WHEN 'false' THEN 'false' ELSE json_extract(properties, {mark}) END"
            )
            params += [path, path]
        else:  # jsonb values, which psycopg reads as Python values, as online
            columns.append(f"properties -> {mark}")
            params.append(prop)
    kinds = []
    whole = [e for e, d in needs.items() if d is None]
    if whole:
        kinds.append(f"event IN ({', '.join([mark] * len(whole))})")
        params += whole
    for event, days in needs.items():
        if days is not None:
            kinds.append(f"(event = {mark} AND ts > {mark})")
            params += [event, now - days * SECONDS_PER_DAY]
    select_list = ", ".join(["lead_id", "event_id", "event", "ts", *columns])
    # Events dated after now too: the batch engine counts none of them, and the leads'
    # engagement states keep them for when their time comes.
    where = " OR ".join(kinds)  # in the order of `params`
    return f"SELECT {select_list} FROM events WHERE {where}", params


def _latest_before(conn: Connection, ids: list[str], now: float) -> dict[str, float | None]:
    out: dict[str, float | None] = dict.fromkeys(ids)
    for part in id_chunks(ids):
        for k, t in conn.execute(
            select(Event.lead_id, func.max(Event.ts))
            .where(Event.lead_id.in_(part), Event.ts <= now)
            .group_by(Event.lead_id)
        ):
            out[k] = t
    return out


def batch_scores(
    version: CompiledVersion, snap: Snapshot, now: float, *, states: bool = False
) -> tuple[dict[str, BatchScore], States | None]:
    """Every lead of the snapshot scored by the batch engine, as one-lead scores, and
    (`states`) the engagement state of each lead that has events."""
    engine = DuckDBEngine()
    inputs = prepare(
        engine,
        version.model,
        engine.from_arrow(snap.leads),
        engine.from_arrow(snap.events) if snap.events is not None else None,
        leads_name="leads",
        events_name="events",
        id_column=ID_COLUMN,
    )
    scored, _ = score_inputs(
        engine, version.model, inputs, as_of=now, predictive_file=version.predictive_file
    )
    kept = batch_states(engine, version, inputs.events, now) if states else None
    return lead_scores(engine.to_arrow(scored)), kept


@dataclass(frozen=True)
class BatchScore:
    """A score from the batch engine: its reasons as the text the store keeps."""

    score: LeadScore
    reasons: str


def lead_scores(scored: pa.Table, key: Callable[[Any], Any] = lambda k: k) -> dict[str, BatchScore]:
    """The batch engine's output rows, by lead id (`key` of the id)."""
    out = {}
    has_factors = "factors" in scored.column_names
    with many_objects():
        rows = scored.to_pylist()
    for row in rows:
        reasons = reasons_text(json.loads(row["reasons"]))
        factors = None
        if has_factors:
            raw = row["factors"]
            factors = tuple(json.loads(raw)) if isinstance(raw, str) else tuple(raw or ())
        score = LeadScore(
            row["score"],
            row["fit_score"],
            row["engagement_score"],
            row["grade"],
            row["label"],
            bool(row["mql"]),
            row["probability"],
            (),
            factors,
        )
        out[key(row[ID_COLUMN])] = BatchScore(score, reasons)
    return out


def write_scores(
    db: Database,
    version: CompiledVersion,
    snap: Snapshot,
    scores: dict[str, BatchScore],
    cause: dict[str, Any],
    now: float,
    *,
    atomic: bool,
    progress: Progress | None = None,
    before_commit: Callable[[Connection], None] | None = None,
    states: States | None = None,
) -> int:
    """Record the batch's scores; returns how many leads changed.

    atomic: one transaction for all (an activation: lists switch at once); otherwise one
    per chunk (the sweep: other writers wait for a chunk, not for every lead). `states`:
    the batch's engagement states, kept for the leads it scored as they still are."""
    ids = list(scores)
    total, changed = len(ids), 0

    def chunk_into(conn: Connection, part: list[str]) -> int:
        current = _revisions(conn, part)
        fresh = [k for k in part if k in current and current[k] == snap.revisions.get(k)]
        moved = [k for k in part if k in current and current[k] != snap.revisions.get(k)]
        items = [Scored(k, scores[k].score, snap.accounts.get(k), scores[k].reasons) for k in fresh]
        n = len(changes.record(conn, version.name, version.version, items, cause, now).changes)
        if states is not None:  # of the same snapshot: only for leads unchanged since
            save_states(conn, version, fresh, states, now)
        if moved:  # changed while the batch ran: scored again, online, as of now
            n += _online(conn, version, moved, cause)
        return n

    with many_objects():  # the rows of every lead: see gc_pause
        if atomic:
            with db.write() as conn:
                for start in range(0, total, WRITE_CHUNK):
                    changed += chunk_into(conn, ids[start : start + WRITE_CHUNK])
                    if progress:
                        progress(min(start + WRITE_CHUNK, total), total)
                # Leads made after the snapshot have no batch score: scored online here.
                new = [k for k in _all_ids(conn) if k not in snap.revisions]
                if new:
                    changed += _online(conn, version, new, cause)
                if before_commit is not None:
                    before_commit(conn)
            # Every score moved: the planner's picture of the indexes (which filter is
            # selective) made again, or a queue filter may walk the wrong index.
            db.analyze("scores")
        else:
            for start in range(0, total, WRITE_CHUNK):
                with db.write() as conn:
                    changed += chunk_into(conn, ids[start : start + WRITE_CHUNK])
                if progress:
                    progress(min(start + WRITE_CHUNK, total), total)
    return changed


def _online(conn: Connection, version: CompiledVersion, ids: list[str], cause: dict) -> int:
    """Leads the batch could not score as they are now, scored by the one-lead scorer."""
    outcome = ingest.rescore(conn, [version], ids, cause, time.time())
    return len(outcome.recorded[version.name].changes)


def _revisions(conn: Connection, ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in id_chunks(ids):
        query = select(Lead.lead_id, Lead.revision).where(Lead.lead_id.in_(part))
        out.update((r[0], r[1]) for r in conn.execute(query))
    return out


def _all_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(Lead.lead_id)).scalars())
