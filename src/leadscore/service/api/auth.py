"""Keys on every route: 401 without a live key, 403 with one whose scope does not reach.

Each route declares its scope with `scope(...)`, which also writes it into the OpenAPI
document (`x-scope`), so that a test can check every route against it."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import Depends, HTTPException, Request

from leadscore.service import keys
from leadscore.service.keys import KeyInfo

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="leadscore"'}


def presented_key(request: Request) -> str | None:
    """The key a request carries: `Authorization: Bearer KEY`, or HTTP Basic with the key
    as the user name (as Segment's libraries send their write key)."""
    header = request.headers.get("authorization", "")
    kind, _, value = header.partition(" ")
    value = value.strip()
    if kind.lower() == "bearer" and value:
        return value
    if kind.lower() == "basic" and value:
        try:
            user = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None


def check(request: Request, key: str | None, needed: str) -> KeyInfo:
    if not key:
        raise HTTPException(401, "send a key: Authorization: Bearer KEY", headers=CHALLENGE)
    service = request.app.state.service
    with service.db.read() as conn:
        info = keys.key_of(conn, key)
    if info is None:
        raise HTTPException(401, "the key is not known, or was revoked", headers=CHALLENGE)
    if needed not in keys.GRANTS[info.scope]:
        raise HTTPException(
            403,
            f"this route needs a key of scope {_needs(needed)}; "
            f"the key {info.name!r} is {info.scope!r}",
        )
    request.state.key = info
    return info


def _needs(scope: str) -> str:
    return {"admin": "'admin'", "read": "'read' or 'admin'", "ingest": "'ingest' or 'admin'"}[scope]


def scope(
    needed: str,
    responses: dict[int | str, Any] | None = None,
    openapi_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Route keyword arguments: the dependency that checks the key, and its OpenAPI note
    (merged with the route's own `responses` and `openapi_extra`)."""

    def dependency(request: Request) -> KeyInfo:
        return check(request, presented_key(request), needed)

    return {
        "dependencies": [Depends(dependency)],
        "openapi_extra": {"x-scope": needed, "security": [{"bearer": []}], **(openapi_extra or {})},
        "responses": {
            401: {"description": "no key, or an unknown one"},
            403: {"description": f"a key whose scope is not {needed}"},
            **(responses or {}),
        },
    }
