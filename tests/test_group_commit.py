"""Requests that write at the same moment share a transaction and a commit, and still
each stand alone: one that fails leaves nothing, the others are stored, and each answer
comes after the commit that holds it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, func, insert, select

from leadscore.service.group_commit import GroupCommit
from leadscore.service.store.database import WRITE_OPTION, Database
from tests.service_support import fresh_postgres

META = MetaData()
ROWS = Table("group_commit_rows", META, Column("n", Integer, primary_key=True))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'g.db'}"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    database = Database(url)
    META.create_all(database.engine)
    yield database
    database.dispose()


def test_concurrent_writes_share_commits_and_fail_alone(db: Database):
    commits = []  # of write transactions (reads commit too)
    event.listen(
        db.engine,
        "commit",
        lambda conn: commits.append(1) if conn.get_execution_options().get(WRITE_OPTION) else None,
    )
    writes = GroupCommit(db)
    seen_committed: list[bool] = []
    lock = threading.Lock()

    def work(n: int):
        def run(conn):
            conn.execute(insert(ROWS).values(n=n))
            if n % 3 == 0:
                raise ValueError(f"refused {n}")
            return n

        try:
            value = writes.write(run)
        except ValueError as exc:
            return str(exc)
        # The answer comes after the commit: a fresh connection sees the row.
        with db.read() as conn:
            stored = conn.execute(select(ROWS.c.n).where(ROWS.c.n == n)).first() is not None
        with lock:
            seen_committed.append(stored)
        return value

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(work, range(1, 121)))
    writes.close()
    assert results == [f"refused {n}" if n % 3 == 0 else n for n in range(1, 121)]
    with db.read() as conn:
        stored = set(conn.execute(select(ROWS.c.n)).scalars())
        assert conn.execute(select(func.count()).select_from(ROWS)).scalar_one() == 80
    assert stored == {n for n in range(1, 121) if n % 3}
    assert all(seen_committed) and len(seen_committed) == 80
    assert 1 <= len(commits) < 60  # several requests per commit (the point of it)


def test_a_lost_connection_fails_the_group_and_the_next_group_commits(request):
    """PostgreSQL ends the transaction's connection half-way (as a restart would): every
    request of that group gets an error, none hangs, nothing of it is stored, and the
    writes after it commit."""
    url = fresh_postgres(request.getfixturevalue("postgres_url"))
    db = Database(url)
    META.create_all(db.engine)
    writes = GroupCommit(db)
    answers: dict[int, object] = {}

    def send(n: int, kill: bool) -> None:
        def run(conn):
            conn.execute(insert(ROWS).values(n=n))
            if kill:
                conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
            return n

        try:
            answers[n] = writes.write(run)
        except Exception as exc:  # the driver's error, passed on
            answers[n] = exc

    killer = threading.Thread(target=send, args=(1, True))
    killer.start()
    killer.join(timeout=30)
    assert not killer.is_alive(), "the request never got an answer"
    assert isinstance(answers[1], Exception)
    send(2, False)
    assert answers[2] == 2
    with db.read() as conn:
        assert set(conn.execute(select(ROWS.c.n)).scalars()) == {2}
    writes.close()
    db.dispose()
