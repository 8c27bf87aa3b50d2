"""Pure ASGI middleware (no per-request task overhead): the body limit, and the metrics
and structured access log of every request."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from leadscore.service.metrics import LATENCY, REQUESTS

Scope = dict[str, Any]
log = logging.getLogger("leadscore.access")


class BodyLimit:
    """Bodies over the limit are refused with 413 before the route reads them."""

    def __init__(self, app: Any, limit: int, larger: dict[str, int]):
        self.app, self.limit, self.larger = app, limit, larger

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = next((n for p, n in self.larger.items() if scope["path"].startswith(p)), self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Too large",
            "status": 413,
            "detail": f"the body is over the limit of {limit:,} bytes ({limit / 2**20:g} MB)",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Observe:
    """Counts, latency per route template and one JSON log line per request."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "path": scope["path"],
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                },
            )
