"""Leads and their scores: upsert, read as of now, list, history, recycle, erasure, accounts."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from leadscore.service import ingest, leads
from leadscore.service.api import present
from leadscore.service.api import schemas as s
from leadscore.service.api.auth import scope
from leadscore.service.api.body import body_doc, read_items, refuse
from leadscore.service.errors import Invalid, NotFound, Problem
from leadscore.service.leads import MAX_PAGE, Filters, one_model, pick_versions
from leadscore.values import normalize_text

router = APIRouter(prefix="/api/v1", tags=["leads"])
# Lead ids may hold any character, "/" too (sent as %2F): the id routes read the rest of
# the path, so the routes with a suffix (/history, /recycle) come before the plain one.
Model = Annotated[str | None, Query(description="a model's name (default: every active one)")]
Stage = Literal["open", "mql", "recycled"]


@router.post(
    "/leads", response_model=s.LeadsOut, **scope("ingest", openapi_extra=body_doc(s.LeadsIn))
)
async def upsert_leads(request: Request) -> Response:
    """Upsert one or many leads: given attributes set, others kept, a null clears one."""
    valid, problems = await read_items(request, "leads", s.LeadIn)
    refuse(problems)
    return await run_in_threadpool(_upsert, request, [x for _, x in valid])


def _upsert(request: Request, valid: list[s.LeadIn]) -> Response:
    service = request.app.state.service
    now = time.time()
    items = [ingest.LeadIn(x.lead_id, x.attributes) for x in valid]

    def work(conn):
        versions = service.cache.active(conn)
        return versions, ingest.upsert_leads(conn, versions, items, now)

    versions, outcome = service.write(work)
    named = {v.name: v.version for v in versions}
    return present.answer(s.LeadsOut(leads=present.outcome_leads(outcome, named, now)))


@router.get("/leads", response_model=s.LeadPage, **scope("read"))
def list_leads(
    request: Request,
    model: Model = None,
    grade: str | None = None,
    label: str | None = None,
    stage: Stage | None = None,
    account: Annotated[
        str | None, Query(description="an account key (as the model reads it)")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="text in the id or attributes")
    ] = None,
    sort: Literal["-score", "score"] = "-score",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> Response:
    """Leads by their stored score (rewritten on every change and by the sweep)."""
    service = request.app.state.service
    with service.db.read() as conn:
        version = one_model(service.cache.active(conn), model)
        filters = Filters(
            grade, label, stage, None if account is None else normalize_text(account), q
        )
        page = leads.list_leads(
            conn, version, filters, descending=sort == "-score", limit=limit, cursor=cursor
        )
    return present.answer(present.page_out(page.rows, page.next_cursor))


@router.get("/leads/{lead_id:path}/history", response_model=s.HistoryPage, **scope("read"))
def lead_history(
    lead_id: str,
    request: Request,
    model: Model = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    cursor: str | None = None,
) -> s.HistoryPage:
    """The ledger: every change of score, grade, label or stage, with its cause."""
    after = None
    if cursor is not None:
        if not cursor.isdigit():
            raise Invalid(
                "cursor: not a cursor of this list", [Problem(None, "cursor", "unreadable")]
            )
        after = int(cursor)
    service = request.app.state.service
    with service.db.read() as conn:
        rows, last = leads.history(conn, lead_id, model, limit=limit, after=after)
    return s.HistoryPage(
        data=[present.history_out(r) for r in rows], next_cursor=None if last is None else str(last)
    )


@router.get("/leads/{lead_id:path}", response_model=s.LeadOut, **scope("read"))
def get_lead(lead_id: str, request: Request, model: Model = None) -> Response:
    """A lead with each score computed as of the time of the read."""
    service = request.app.state.service
    now = time.time()
    with service.db.read() as conn:
        versions = pick_versions(service.cache.active(conn), model)
        found = leads.lead_now(conn, versions, lead_id, now)
    return present.answer(present.lead_now_out(found, now))


@router.post("/leads/{lead_id:path}/recycle", response_model=s.LifecycleOut, **scope("admin"))
def recycle_lead(lead_id: str, request: Request, model: Model = None) -> s.LifecycleOut:
    """Stage back to `recycled`: the lead can qualify again."""
    service = request.app.state.service
    now = time.time()

    def work(conn):
        return leads.recycle(conn, service.cache.active(conn), lead_id, model, now)

    return present.lifecycle(service.write(work))


@router.delete("/leads/{lead_id:path}", status_code=204, response_class=Response, **scope("admin"))
def erase_lead(lead_id: str, request: Request) -> Response:
    """Erasure: the lead, its events, its ledger. Nothing about it remains."""
    service = request.app.state.service
    service.write(lambda conn: leads.erase(conn, lead_id))
    return Response(status_code=204)


@router.get("/accounts", response_model=s.AccountsOut, **scope("read"))
def list_accounts(
    request: Request,
    model: Model = None,
    sort: Literal["-score", "score"] = "-score",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> s.AccountsOut:
    """Account scores from the stored scores, aggregated as the model's `accounts` says."""
    service = request.app.state.service
    with service.db.read() as conn:
        version = one_model(service.cache.active(conn), model)
        rows = leads.accounts(conn, version, descending=sort == "-score", limit=limit)
    return s.AccountsOut(data=[_account(r, version.name) for r in rows])


@router.get("/accounts/{key:path}", response_model=s.AccountOut, **scope("read"))
def get_account(key: str, request: Request, model: Model = None) -> s.AccountOut:
    service = request.app.state.service
    with service.db.read() as conn:
        version = one_model(service.cache.active(conn), model)
        rows = leads.accounts(conn, version, key=normalize_text(key), limit=1)
    if not rows:
        raise NotFound(f"no account {key!r} under model {version.name!r}")
    return _account(rows[0], version.name)


def _account(row: dict, model: str) -> s.AccountOut:
    return s.AccountOut(
        account=row["account"],
        model=model,
        score=float(row["score"]),
        leads=int(row["leads"]),
        mql_leads=int(row["mql_leads"] or 0),
    )
