"""Operations: health (no key) and metrics (read)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
)

from leadscore.service import webhooks
from leadscore.service.api import schemas as s
from leadscore.service.api.auth import scope

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=s.HealthOut, responses={503: {"model": s.HealthOut}})
def healthz(request: Request) -> JSONResponse:
    """200 with the database reachable, else 503. Needs no key."""
    up = request.app.state.service.db.ping()
    body = {"status": "ok" if up else "unavailable", "database": "ok" if up else "unreachable"}
    return JSONResponse(body, status_code=200 if up else 503)


@router.get(
    "/metrics",
    response_class=Response,
    **scope("read", responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}}),
)
def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latencies per route, events, duplicates, sweeps,
    webhook attempts and their latency, and the outbox's depth."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # serve --workers N: every worker's counts
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    # The outbox's depth is the database's, whichever process asks: read at each scrape.
    with request.app.state.service.db.read() as conn:
        pending = webhooks.depth(conn)
    gauges = CollectorRegistry()
    Gauge(
        "leadscore_webhook_outbox_depth", "Webhook messages not yet delivered", registry=gauges
    ).set(pending)
    text = generate_latest(registry) + generate_latest(gauges)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
