"""Work done in the background of a service process: activation jobs and the sweep.

A job is claimed by one process (an UPDATE that only one can win) and the sweep by a
lease, so that several processes over one PostgreSQL never do the same work twice."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from sqlalchemy import Connection, insert, select, update

from leadscore.service import models
from leadscore.service.batch_rescore import batch_scores, snapshot, write_scores
from leadscore.service.metrics import RESCORED, SWEEP
from leadscore.service.online import CompiledVersion, VersionCache
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Job, Lease

log = logging.getLogger("leadscore.service")
# Progress of the jobs this process runs: the writing transaction of an activation holds
# SQLite's one write lock, so its progress is kept here too (GET /jobs reads both).
PROGRESS: dict[str, tuple[int, int]] = {}
HOLDER = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def time_dependent(version: CompiledVersion) -> bool:
    """Whether time alone moves this version's scores (windows, decay, inactivity)."""
    plan = version.plan
    return bool(plan.inactivity) or any(
        t.window_days is not None or t.half_life_days is not None for t in plan.events
    )


def activate(db: Database, cache: VersionCache, job_id: str, name: str, version: str) -> None:
    """Rescore every lead under the version with the batch engine, then switch to it in
    the same transaction that writes the scores (reads serve the old one until then)."""
    now = time.time()
    with db.read() as conn:
        compiled = cache.get(conn, name, version)
        snap = snapshot(conn, compiled, now)
    total = len(snap.revisions)
    _progress(db, job_id, 0, total)
    scores, states = batch_scores(compiled, snap, now, states=True)

    def switch(conn: Connection) -> None:
        models.set_active(conn, name, version, time.time())
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state="done", done=total, total=total, updated_at=time.time())
        )

    def progress(done: int, total: int) -> None:
        PROGRESS[job_id] = (done, total)

    changed = write_scores(
        db,
        compiled,
        snap,
        scores,
        {"kind": "activation", "version": version},
        now,
        atomic=True,
        progress=progress,
        before_commit=switch,
        states=states,
    )
    PROGRESS.pop(job_id, None)
    RESCORED.labels(name, "activation").inc(changed)
    log.info(
        "activated", extra={"model": name, "version": version, "leads": total, "changed": changed}
    )


def sweep(db: Database, cache: VersionCache) -> None:
    """Rewrite the stored scores that time alone changed, model by model."""
    with db.read() as conn:
        versions = cache.active(conn)
    for version in versions:
        if not time_dependent(version):
            continue
        started = time.perf_counter()
        now = time.time()
        with db.read() as conn:
            snap = snapshot(conn, version, now)
        scores, _ = batch_scores(version, snap, now)
        changed = write_scores(db, version, snap, scores, {"kind": "sweep"}, now, atomic=False)
        SWEEP.labels(version.name).observe(time.perf_counter() - started)
        RESCORED.labels(version.name, "sweep").inc(changed)
        log.info(
            "sweep", extra={"model": version.name, "leads": len(snap.revisions), "changed": changed}
        )


def job_status(conn: Connection, job_id: str) -> dict | None:
    """A job's row, with this process's live progress while it runs the job here."""
    row = conn.execute(Job.__table__.select().where(Job.id == job_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    if out["state"] == "running" and job_id in PROGRESS:
        out["done"], out["total"] = PROGRESS[job_id]
    return out


def review_due(db: Database, cache: VersionCache, margin: float) -> int:
    """Each active model's health (model_health): a review due is sent once."""
    from leadscore.service import model_health

    with db.read() as conn:
        names = [v.name for v in cache.active(conn)]
    with db.write() as conn:
        return model_health.check(conn, names, time.time(), margin)


def _progress(db: Database, job_id: str, done: int, total: int) -> None:
    PROGRESS[job_id] = (done, total)
    with db.write() as conn:
        conn.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(done=done, total=total, updated_at=time.time())
        )


def claim_job(db: Database) -> tuple[str, str, str] | None:
    """The oldest queued job, now running in this process (None: nothing to do)."""
    with db.write() as conn:
        row = conn.execute(
            select(Job.id, Job.model, Job.version)
            .where(Job.state == "queued")
            .order_by(Job.created_at)
            .limit(1)
        ).first()
        if row is None:
            return None
        won = conn.execute(
            update(Job)
            .where(Job.id == row.id, Job.state == "queued")
            .values(state="running", updated_at=time.time())
        )
        return (row.id, row.model, row.version) if won.rowcount == 1 else None


def run_job(db: Database, cache: VersionCache, job: tuple[str, str, str]) -> None:
    job_id, name, version = job
    try:
        activate(db, cache, job_id, name, version)
    except Exception as exc:  # a job that fails says why in its row; the process goes on
        log.exception("job failed", extra={"job": job_id})
        PROGRESS.pop(job_id, None)
        with db.write() as conn:
            conn.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(
                    state="failed",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    updated_at=time.time(),
                )
            )


def fail_orphans(db: Database) -> None:
    """Jobs left running by a service that stopped: failed, so that they can be redone."""
    with db.write() as conn:
        conn.execute(
            update(Job)
            .where(Job.state == "running")
            .values(
                state="failed",
                error="the service stopped while the job ran; activate again",
                updated_at=time.time(),
            )
        )


def take_lease(db: Database, name: str, seconds: float) -> bool:
    now = time.time()
    with db.write() as conn:
        held = conn.execute(
            select(Lease.holder, Lease.expires_at).where(Lease.name == name)
        ).first()
        if held is None:
            conn.execute(insert(Lease).values(name=name, holder=HOLDER, expires_at=now + seconds))
            return True
        if held.holder != HOLDER and held.expires_at > now:
            return False
        won = conn.execute(
            update(Lease)
            .where(
                Lease.name == name, Lease.holder == held.holder, Lease.expires_at == held.expires_at
            )
            .values(holder=HOLDER, expires_at=now + seconds)
        )
        return won.rowcount == 1


class Worker:
    """A thread that runs queued jobs and, every `sweep_seconds`, the sweep."""

    def __init__(
        self,
        db: Database,
        cache: VersionCache,
        *,
        poll: float,
        sweep_seconds: float,
        review_margin: float = 0.10,
    ):
        self.db, self.cache = db, cache
        self.review_margin = review_margin
        self.poll, self.sweep_seconds = poll, sweep_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadscore-worker", daemon=True)
        self._next_sweep = time.monotonic() + sweep_seconds

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = claim_job(self.db)
                if job is not None:
                    run_job(self.db, self.cache, job)
                    continue
                if self.sweep_seconds > 0 and time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.sweep_seconds
                    # The lease outlives one sweep; another process skips this round.
                    if take_lease(self.db, "sweep", self.sweep_seconds * 0.9):
                        sweep(self.db, self.cache)
                        review_due(self.db, self.cache, self.review_margin)
            except Exception:  # the database away for a moment: try again at the next poll
                log.exception("background work failed")
            self._stop.wait(self.poll)
