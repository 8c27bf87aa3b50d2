"""Random secrets that every process of one service shares, kept in its database."""

from __future__ import annotations

import secrets
import time

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from leadscore.service.store.database import Database
from leadscore.service.store.tables import ServiceSecret


def shared_secret(db: Database, name: str) -> str:
    """The secret called `name`: made once, by whichever process asks first."""
    query = select(ServiceSecret.value).where(ServiceSecret.name == name)
    with db.read() as conn:
        found = conn.execute(query).scalar()
    if found:
        return found
    try:
        with db.write() as conn:
            conn.execute(
                insert(ServiceSecret).values(
                    name=name, value=secrets.token_urlsafe(48), created_at=time.time()
                )
            )
    except IntegrityError:  # another process made it first: theirs is the one
        pass
    with db.read() as conn:
        return conn.execute(query).scalar_one()
