"""Signing in with a key: a signed, expiring, HttpOnly cookie, and CSRF tokens.

The cookie holds the key's SHA-256 (what the database looks keys up by, not the key)
and a random session id, signed with a secret that every process of the service shares
(kept in the database). Each request looks the key up again, so that a revoked key's
sessions end at once. A form that changes something carries a token made from the
session id; a request without it is refused."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Connection

from leadscore.service import keys
from leadscore.service.secrets_store import shared_secret
from leadscore.service.store.database import Database

COOKIE = "leadscore_session"
MAX_AGE = 12 * 3600  # a working day; then sign in again


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: the key's name and scope, and the session's CSRF token."""

    name: str
    scope: str
    csrf: str

    @property
    def admin(self) -> bool:
        return self.scope == "admin"


class Sessions:
    def __init__(self, db: Database):
        self.db = db
        self._signer: URLSafeTimedSerializer | None = None

    def signer(self) -> URLSafeTimedSerializer:
        if self._signer is None:
            self._signer = URLSafeTimedSerializer(shared_secret(self.db, "session"), salt="session")
        return self._signer

    def sign_in(self, conn: Connection, key: str) -> tuple[str, keys.KeyInfo] | None:
        """The cookie's value for a live key that may read (None: refused)."""
        info = keys.key_of(conn, key.strip())
        if info is None or "read" not in keys.GRANTS[info.scope]:
            return None
        value = self.signer().dumps({"k": keys.hash_key(key.strip()), "s": secrets.token_hex(16)})
        return value, info

    def viewer(self, conn: Connection, cookie: str | None) -> Viewer | None:
        if not cookie:
            return None
        try:
            data = self.signer().loads(cookie, max_age=MAX_AGE)
        except BadSignature:  # tampered, expired, or signed by another service
            return None
        if not isinstance(data, dict) or not {"k", "s"} <= set(data):
            return None
        found = keys.live_by_hash(conn, data["k"])
        if found is None:
            return None
        return Viewer(found.name, found.scope, self._csrf(data["s"]))

    def _csrf(self, session_id: str) -> str:
        key = self.signer().secret_keys[-1]
        return hmac.new(key, f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(viewer: Viewer, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(viewer.csrf, token)
