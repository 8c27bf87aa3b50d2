"""Write requests that arrive together, committed together.

A commit waits for the disk (SQLite with `synchronous=FULL`, PostgreSQL's WAL flush):
at a few hundred single-event requests a second, one commit each is most of the time
they take, and requests queue behind each other's fsync. Here one thread runs the
waiting requests' work in one transaction, each in a savepoint of its own (a request
that fails leaves nothing, the others go on), commits once, and only then answers them
all: every 2xx still means committed, with one fsync for the group.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from leadscore.service.store.database import Database

T = TypeVar("T")
Work = Callable[[Connection], Any]
log = logging.getLogger(__name__)

MAX_GROUP = 64  # requests in one transaction: a group waits for its slowest member
TRIES = 3  # a request whose savepoint met another writer's commit is tried again


class GroupCommit:
    def __init__(self, db: Database):
        self._db = db
        self._queue: queue.SimpleQueue[tuple[Work, Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def write(self, work: Callable[[Connection], T]) -> T:
        """`work`'s result once its transaction has committed (its exception if it raised)."""
        done: Future = Future()
        self._queue.put((work, done))
        return done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[tuple[Work, Future]]) -> None:
        answers: list[tuple[Future, Any]] = []
        try:
            with self._db.write() as conn:
                for work, done in group:
                    ok, value = _in_savepoint(conn, work)
                    if ok:
                        answers.append((done, value))
                    else:
                        done.set_exception(value)
        except Exception as exc:
            # The transaction failed (a lost connection, the commit): nobody's work is
            # stored, and every request of the group gets the error instead of waiting.
            log.warning("group commit failed: %s", exc)
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        for done, value in answers:
            done.set_result(value)


def _in_savepoint(conn: Connection, work: Work) -> tuple[bool, Any]:
    for attempt in range(TRIES):
        savepoint = conn.begin_nested()
        try:
            value = work(conn)
        except (IntegrityError, OperationalError) as exc:
            # Two processes storing the same new event_id on PostgreSQL: tried again, the
            # second finds it stored (a duplicate).
            savepoint.rollback()
            if attempt == TRIES - 1 or not retryable(exc):
                return False, exc
            continue
        except BaseException as exc:  # a refused request (422, 404...): its own answer
            savepoint.rollback()
            return False, exc
        savepoint.commit()
        return True, value
    raise AssertionError("unreachable")


def retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return "deadlock" in text or "serializ" in text or "database is locked" in text
