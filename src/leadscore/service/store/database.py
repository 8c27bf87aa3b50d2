"""Connections to the service's database, SQLite or PostgreSQL, and its migrations.

SQLite runs in WAL mode with `synchronous=FULL`, so that a 2xx survives a kill -9 and
readers never wait for a writer; a write transaction starts with BEGIN IMMEDIATE, so that
two writers queue for the lock instead of failing half-way. PostgreSQL is reached through
psycopg 3 (`postgresql+psycopg://`; `postgres://` and `postgresql://` mean the same).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from leadscore.errors import UsageError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
WRITE_OPTION = "leadscore_write"  # the execution option that marks a write transaction
# One lock number for "migrating" on PostgreSQL: processes that start together take turns.
_MIGRATION_LOCK = 7_211_301
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


BUSY_SECONDS = 60  # how long a SQLite writer waits for another's lock

# Ids per `IN (...)`: well under SQLite's limit of bound parameters.
CHUNK = 500


def id_chunks(ids: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """The distinct ids, in order, in lists of at most `size` (one query each)."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def database_url(url: str) -> str:
    """The SQLAlchemy URL of `--db`: a bare path is a SQLite file."""
    if "://" not in url:
        return f"sqlite:///{url}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """The engine and the two kinds of transaction the service runs: read and write."""

    def __init__(self, url: str, *, pool_size: int = 8, background_checkpoint: bool = False):
        self.url = database_url(url)
        self._checkpoints: _Checkpoints | None = None
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise UsageError(
                f"--db {url!r}: not a database URL (sqlite:///FILE or postgresql://...)"
            ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise UsageError(
                    "--db: give SQLite a file (sqlite:///leadscore.db): one in memory is lost"
                )
            self.engine = _sqlite_engine(self.url, auto_checkpoint=not background_checkpoint)
            if background_checkpoint:
                self._checkpoints = _Checkpoints(str(parsed.database))
        elif self.dialect == "postgresql":
            if parsed.get_driver_name() != "psycopg":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(
                parsed,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                json_serializer=_dumps,
                # psycopg prepares a statement run five times; PostgreSQL may then plan it
                # once for any ids, and a generic plan of `lead_id IN (500 parameters)`
                # scans instead of using the key (140 ms instead of 5): plan every call.
                connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
            )
        else:
            raise UsageError(f"--db {url!r}: the service runs on SQLite or PostgreSQL")

    @property
    def name(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that writes: committed when the block ends, rolled back on error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False

    def migrate(self) -> None:
        """Make or upgrade the schema to the newest migration (Alembic)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["configure_logger"] = False
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_lock(:n)"), {"n": _MIGRATION_LOCK})
                    conn.commit()
                try:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    conn.commit()
                finally:
                    if self.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_unlock(:n)"), {"n": _MIGRATION_LOCK})
                        conn.commit()
        except OperationalError as exc:
            raise UsageError(
                f"--db {self.name}: cannot reach the database ({_first_line(exc)})"
            ) from None

    def check_service(self) -> None:
        """A database that a service made and is up to date (for commands that only read
        it, such as review): a clear error otherwise, and no empty SQLite file made."""
        parsed = make_url(self.url)
        if self.dialect == "sqlite" and not Path(parsed.database or "").is_file():
            raise UsageError(f"--db {self.name}: no such file (the service's database)")
        try:
            with self.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
        except OperationalError as exc:
            raise UsageError(
                f"--db {self.name}: cannot reach the database ({_first_line(exc)})"
            ) from None
        if "alembic_version" not in tables or "leads" not in tables:
            raise UsageError(
                f"--db {self.name}: not a leadscore service database "
                "(leadscore serve or leadscore import makes one)"
            )
        self.migrate()  # an older service's database: upgraded, as serve would

    def analyze(self, table: str | None = None) -> None:
        """Fresh statistics after a bulk load, so that the planner knows the tables' sizes
        (of one table, or of all)."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE" if table is None else f"ANALYZE {table}")
            conn.commit()

    def dispose(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    orig: Any = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


class _Checkpoints:
    """SQLite's WAL copied into the database file by a thread of its own, a few times a
    second: left to SQLite, the commit that passes 1,000 pages does it, and the
    requests of that commit wait for the copy and its fsync (the single-event p99)."""

    EVERY = 0.2  # seconds

    def __init__(self, path: str):
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=BUSY_SECONDS, check_same_thread=False)
        try:
            while not self._stop.wait(self.EVERY):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # tried again at the next turn
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _begin_immediate(raw: Any) -> None:
    """Take the write lock, trying again every half millisecond while another process
    holds it: SQLite's own wait sleeps ever longer (up to 100 ms a turn), and two
    service processes would then leave their writes waiting for nothing."""
    deadline = time.monotonic() + BUSY_SECONDS
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0005)
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")


def _sqlite_engine(url: str, *, auto_checkpoint: bool = True) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 60},
        json_serializer=_dumps,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        if not auto_checkpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            _begin_immediate(conn.connection.driver_connection)
        else:
            conn.exec_driver_sql("BEGIN")

    return engine
