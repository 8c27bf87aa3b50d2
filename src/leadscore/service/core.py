"""The service as one object: its settings, its database and its compiled models."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, update

from leadscore.errors import UsageError
from leadscore.model.load import load_model, predictive_path
from leadscore.service import models, outbox
from leadscore.service.background import activate, fail_orphans
from leadscore.service.errors import Conflict
from leadscore.service.group_commit import GroupCommit
from leadscore.service.online import VersionCache
from leadscore.service.settings import Settings
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Job

T = TypeVar("T")


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.db, background_checkpoint=True)
        self.cache = VersionCache()
        self._writes = GroupCommit(self.db)
        # Called after a commit that wrote webhook messages (the delivery worker's wake).
        self.on_messages: list[Callable[[], None]] = []

    def start(self) -> None:
        """The schema made or upgraded (Alembic): every process does it, idempotently."""
        self.db.migrate()

    def close(self) -> None:
        self._writes.close()
        self.db.dispose()

    def write(self, work: Callable[[Connection], T]) -> T:
        """`work` in a write transaction, committed before this returns: the requests
        waiting at the same moment share one transaction and one commit (group_commit)."""
        before = outbox.WRITTEN.count
        result = self._writes.write(work)
        if outbox.WRITTEN.count != before:
            for wake in self.on_messages:
                wake()
        return result


def prepare_database(settings: Settings, model_files: list[Path]) -> Service:
    """What `serve` does once before its workers start: migrate, fail the jobs that a
    stopped service left running, add and activate the models given."""
    service = Service(settings)
    service.start()
    fail_orphans(service.db)
    for path in model_files:
        add_and_activate(service, path)
    return service


def add_and_activate(service: Service, path: Path) -> str:
    """Add a model file's version (unless stored with the same text) and make it active,
    rescoring every lead with the batch engine before `serve` answers."""
    model = load_model(path)
    yaml = path.read_text(encoding="utf-8")
    predictive = None
    file = predictive_path(path, model)
    if file is not None:
        predictive = file.read_bytes()
    name, version = model.model, str(model.version)
    with service.db.write() as conn:
        try:
            models.add_version(conn, yaml, predictive)
        except Conflict:
            stored = models.version_yaml(conn, name, version)
            if stored != yaml:
                raise UsageError(
                    f"{path}: model {name!r} version {version!r} is stored with other rules; "
                    "versions never change: raise `version` in the file"
                ) from None
        if models.active_version(conn, name) == version:
            return version
        job = models.request_activation(conn, name, version)
    with service.db.write() as conn:
        conn.execute(
            update(Job).where(Job.id == job).values(state="running", updated_at=time.time())
        )
    activate(service.db, service.cache, job, name, version)
    return version
