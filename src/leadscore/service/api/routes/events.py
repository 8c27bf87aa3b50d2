"""Events in: one transaction per request, committed before the 2xx."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from leadscore.service import ingest
from leadscore.service.api import present
from leadscore.service.api import schemas as s
from leadscore.service.api.auth import scope
from leadscore.service.api.body import body_doc, read_items, refuse
from leadscore.service.errors import Problem
from leadscore.service.metrics import DUPLICATES, EVENTS

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.post(
    "/events", response_model=s.EventsOut, **scope("ingest", openapi_extra=body_doc(s.EventsIn))
)
async def post_events(request: Request) -> Response:
    """Store events (an event_id stored before is a duplicate, not counted again) and
    answer the new scores of the leads they touched."""
    valid, problems = await read_items(request, "events", s.EventIn)
    return await run_in_threadpool(_store, request, valid, problems)


def _store(
    request: Request, valid: list[tuple[int, s.EventIn]], problems: list[Problem]
) -> Response:
    service = request.app.state.service
    now = time.time()
    items = [
        ingest.EventIn(e.lead_id, e.event, e.timestamp, e.properties, e.event_id) for _, e in valid
    ]
    if problems:  # listed with the problems of the valid items: leads that do not exist
        if not service.settings.create_unknown_leads:
            with service.db.read() as conn:
                known = ingest.known_leads(conn, [e.lead_id for e in items])
            problems += [
                Problem(i, "lead_id", f"no lead {e.lead_id!r}")
                for i, e in valid
                if e.lead_id not in known
            ]
        refuse(problems)

    def work(conn):
        versions = service.cache.active(conn)
        outcome = ingest.ingest_events(
            conn, versions, items, now, create_unknown_leads=service.settings.create_unknown_leads
        )
        return versions, outcome

    versions, outcome = service.write(work)
    EVENTS.labels("api").inc(outcome.accepted)
    DUPLICATES.inc(len(outcome.duplicates))
    named = {v.name: v.version for v in versions}
    return present.answer(
        s.EventsOut(
            accepted=outcome.accepted,
            duplicates=outcome.duplicates,
            leads=present.outcome_leads(outcome, named, now),
        )
    )
