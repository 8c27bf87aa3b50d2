"""Alembic's migrations make exactly the tables that the SQLAlchemy classes describe, on
SQLite and on PostgreSQL: a column added to one and not the other fails here."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leadscore.service.store.database import Database
from leadscore.service.store.tables import Base
from tests.service_support import fresh_postgres


def _differences(url: str) -> list:
    db = Database(url)
    try:
        db.migrate()
        with db.engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()


def test_migrations_make_the_tables_sqlite(tmp_path: Path):
    assert _differences(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_migrations_make_the_tables_postgres(postgres_url: str):
    assert _differences(fresh_postgres(postgres_url)) == []
