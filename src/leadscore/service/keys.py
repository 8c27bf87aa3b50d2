"""API keys: made once and shown once, stored as their SHA-256, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from leadscore.service.errors import Conflict, Invalid, NotFound, Problem
from leadscore.service.store.tables import ApiKey

SCOPES = ("ingest", "read", "admin")
# What each scope may do: admin everything, read reads (and gives feedback), ingest only
# sends leads and events (SPEC section 4).
GRANTS = {"ingest": {"ingest"}, "read": {"read"}, "admin": {"ingest", "read", "admin"}}
_PREFIX = "lsk_"


@dataclass(frozen=True)
class KeyInfo:
    name: str
    scope: str
    prefix: str
    created_at: float
    revoked_at: float | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, scope: str, name: str | None = None) -> tuple[str, KeyInfo]:
    """A new key (returned once, never stored) and its record."""
    if scope not in SCOPES:
        raise Invalid(
            f"scope {scope!r}: expected one of {', '.join(SCOPES)}",
            [Problem(None, "scope", "unknown scope")],
        )
    key = _PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    name = name or f"{scope}-{secrets.token_hex(3)}"
    exists = conn.execute(select(ApiKey.id).where(ApiKey.name == name)).first()
    if exists is not None:
        raise Conflict(f"a key named {name!r} exists; choose another --name")
    info = KeyInfo(name, scope, key[:10], now, None)
    conn.execute(
        ApiKey.__table__.insert().values(
            name=name, scope=scope, key_hash=hash_key(key), prefix=info.prefix, created_at=now
        )
    )
    return key, info


def list_keys(conn: Connection) -> list[KeyInfo]:
    rows = conn.execute(select(ApiKey.__table__).order_by(ApiKey.created_at, ApiKey.id))
    return [KeyInfo(r.name, r.scope, r.prefix, r.created_at, r.revoked_at) for r in rows]


def revoke_key(conn: Connection, name: str) -> None:
    done = conn.execute(
        update(ApiKey)
        .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )
    if done.rowcount == 0:
        known = conn.execute(select(ApiKey.revoked_at).where(ApiKey.name == name)).first()
        if known is not None:
            raise NotFound(f"the key {name!r} is already revoked")
        raise NotFound(f"no key named {name!r} (see `leadscore keys list`)")


def key_of(conn: Connection, key: str) -> KeyInfo | None:
    """The live key that `key` is, or None (unknown or revoked)."""
    row = conn.execute(
        select(ApiKey.__table__).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return KeyInfo(row.name, row.scope, row.prefix, row.created_at, row.revoked_at)


def live_by_hash(conn: Connection, key_hash: str) -> KeyInfo | None:
    """The live key whose SHA-256 this is (a dashboard session holds the hash, not the key)."""
    row = conn.execute(
        select(ApiKey.__table__).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return KeyInfo(row.name, row.scope, row.prefix, row.created_at, row.revoked_at)
