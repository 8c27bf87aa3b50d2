"""Sales feedback on leads, the team's list of rejection reasons, and CRM outcomes."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from leadscore.service import feedback, outcomes
from leadscore.service.api import schemas as s
from leadscore.service.api.auth import scope
from leadscore.service.api.body import body_doc, read_items, read_object, refuse
from leadscore.service.api.present import answer
from leadscore.service.errors import NotFound, Problem
from leadscore.service.times import iso

router = APIRouter(prefix="/api/v1", tags=["feedback"])


@router.post(
    "/leads/{lead_id:path}/feedback",
    status_code=201,
    response_model=s.FeedbackOut,
    **scope("read", openapi_extra=body_doc(s.FeedbackIn)),
)
async def give_feedback(lead_id: str, request: Request) -> Response:
    """A rep's verdict: accepted, or rejected with a reason from the team's list (read
    keys may give it: reps hold them). Kept with the key's name and the time."""
    given = await read_object(request, s.FeedbackIn, "feedback")
    service = request.app.state.service
    author = request.state.key.name

    def work(conn):
        return feedback.give(
            conn,
            service.cache.active(conn),
            lead_id,
            verdict=given.verdict,
            reason=given.reason,
            note=given.note,
            model=given.model,
            author=author,
            now=time.time(),
        )

    row = await run_in_threadpool(service.write, work)
    return answer(feedback_out(row), 201)


@router.get("/leads/{lead_id:path}/feedback", response_model=s.FeedbackList, **scope("read"))
def list_feedback(lead_id: str, request: Request) -> s.FeedbackList:
    with request.app.state.service.db.read() as conn:
        rows = feedback.of_lead(conn, lead_id)
        if not rows and outcomes.unknown_leads(conn, [lead_id]):
            raise NotFound(f"no lead {lead_id!r}")
    return s.FeedbackList(data=[feedback_out(r) for r in rows])


@router.get("/feedback-reasons", response_model=s.ReasonsIO, **scope("read"))
def list_reasons(request: Request) -> s.ReasonsIO:
    """The reasons a rep may give to reject a lead."""
    with request.app.state.service.db.read() as conn:
        found = feedback.reasons(conn)
    return s.ReasonsIO(reasons=[s.ReasonIO(name=r.name, needs_note=r.needs_note) for r in found])


@router.put(
    "/feedback-reasons",
    response_model=s.ReasonsIO,
    **scope("admin", openapi_extra=body_doc(s.ReasonsIO)),
)
async def set_reasons(request: Request) -> s.ReasonsIO:
    """Replace the team's list (verdicts given before keep the reason they named)."""
    given = await read_object(request, s.ReasonsIO, "list of reasons")
    items = [feedback.Reason(r.name, r.needs_note) for r in given.reasons]
    service = request.app.state.service
    found = await run_in_threadpool(service.write, lambda conn: feedback.set_reasons(conn, items))
    return s.ReasonsIO(reasons=[s.ReasonIO(name=r.name, needs_note=r.needs_note) for r in found])


@router.post(
    "/outcomes",
    response_model=s.OutcomesOut,
    **scope("ingest", openapi_extra=body_doc(s.OutcomesIn)),
)
async def post_outcomes(request: Request) -> Response:
    """Outcomes as a CRM sends them when a deal closes; one sent twice is stored once."""
    valid, problems = await read_items(request, "outcomes", s.OutcomeIn)
    service = request.app.state.service
    items = [(i, outcomes.OutcomeIn(x.lead_id, x.outcome, x.at, x.amount)) for i, x in valid]

    def work(conn):
        missing = outcomes.unknown_leads(conn, [x.lead_id for _, x in items])
        found = [Problem(i, "lead_id", "no such lead") for i, x in items if x.lead_id in missing]
        refuse([*problems, *found])
        return outcomes.record(conn, [x for _, x in items], time.time())

    accepted, duplicates = await run_in_threadpool(service.write, work)
    return answer(s.OutcomesOut(accepted=accepted, duplicates=duplicates))


def feedback_out(row: dict) -> s.FeedbackOut:
    return s.FeedbackOut(**{**row, "at": iso(row["at"]) or ""})
