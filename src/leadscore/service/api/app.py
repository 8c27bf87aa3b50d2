"""The FastAPI application: `create_app()` (uvicorn's factory) over a Service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from leadscore import __version__
from leadscore.dashboard import pages
from leadscore.service.api import problems
from leadscore.service.api.body import schema_components
from leadscore.service.api.middleware import BodyLimit, Observe
from leadscore.service.api.routes import (
    events,
    feedback,
    leads,
    models,
    ops,
    segment,
    webhooks,
)
from leadscore.service.api.schemas import (
    EventsIn,
    FeedbackIn,
    LeadsIn,
    OutcomesIn,
    ReasonsIO,
    WebhookIn,
)
from leadscore.service.background import Worker
from leadscore.service.core import Service
from leadscore.service.delivery import Deliverer
from leadscore.service.settings import Settings

DESCRIPTION = """Real-time lead scoring (SPEC section 4). Send `Authorization: Bearer KEY`
(`leadscore keys create --scope ingest|read|admin`); each route's scope is its `x-scope`.
Errors are RFC 9457 problem details."""


def create_app(settings: Settings | None = None, *, background: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        workers: list[Worker | Deliverer] = []
        if background:
            workers.append(
                Worker(
                    service.db,
                    service.cache,
                    poll=settings.job_poll_seconds,
                    sweep_seconds=settings.sweep_seconds,
                    review_margin=settings.review_margin,
                )
            )
            deliverer = Deliverer(service.db, settings)
            service.on_messages.append(deliverer.wake)
            workers.append(deliverer)
            for w in workers:
                w.start()
        try:
            yield
        finally:
            for w in workers:
                w.stop()
            service.close()

    app = FastAPI(
        title="leadscore",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    problems.install(app)
    for module in (feedback, leads, events, segment, models, webhooks, ops):
        app.include_router(module.router)
    app.include_router(pages.router)  # the dashboard (SPEC section 4b)
    pages.install(app)
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, larger={"/api/v1/models": models.MAX_MODEL_BYTES}
    )
    app.add_middleware(Observe)
    _security(app)
    return app


def _security(app: FastAPI) -> None:
    """Declare the two ways a key is sent, in the OpenAPI document."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(
                schema_components(LeadsIn, EventsIn, WebhookIn, FeedbackIn, OutcomesIn, ReasonsIO)
            )
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Segment: the key as the user name",
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
