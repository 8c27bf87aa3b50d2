"""Webhook subscriptions, their messages and attempts, redelivery."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from leadscore.service import webhooks
from leadscore.service.api import schemas as s
from leadscore.service.api.auth import scope
from leadscore.service.api.body import body_doc, read_object
from leadscore.service.api.present import answer
from leadscore.service.errors import Invalid, Problem
from leadscore.service.times import iso

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


@router.post(
    "/webhooks",
    status_code=201,
    response_model=s.WebhookCreated,
    **scope("admin", openapi_extra=body_doc(s.WebhookIn)),
)
async def create_webhook(request: Request) -> Response:
    """Subscribe a URL to changes; the answer holds the signing secret, shown only once."""
    given = await read_object(request, s.WebhookIn, "subscription")
    new = webhooks.NewWebhook(given.url, given.events, given.model, given.min_score_change)
    service = request.app.state.service

    def work(conn):
        return webhooks.create(conn, new, time.time())

    row, secret = await run_in_threadpool(service.write, work)
    row["messages"] = dict.fromkeys(webhooks.MESSAGE_STATES, 0)
    return answer(s.WebhookCreated(**_webhook(row), secret=secret), 201)


@router.get("/webhooks", response_model=s.WebhooksOut, **scope("read"))
def list_webhooks(request: Request) -> s.WebhooksOut:
    """Every subscription (secrets are never shown again)."""
    with request.app.state.service.db.read() as conn:
        rows = webhooks.list_webhooks(conn)
    return s.WebhooksOut(data=[s.WebhookOut(**_webhook(r)) for r in rows])


@router.get("/webhooks/{webhook_id}", response_model=s.WebhookOut, **scope("read"))
def get_webhook(webhook_id: str, request: Request) -> s.WebhookOut:
    with request.app.state.service.db.read() as conn:
        return s.WebhookOut(**_webhook(webhooks.get(conn, webhook_id)))


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response, **scope("admin"))
def delete_webhook(webhook_id: str, request: Request) -> Response:
    """The subscription and its messages: nothing more is sent to it."""
    request.app.state.service.write(lambda conn: webhooks.remove(conn, webhook_id))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/messages", response_model=s.MessagesPage, **scope("read"))
def list_messages(
    webhook_id: str,
    request: Request,
    state: Literal["pending", "delivered", "failed"] | None = None,
    lead_id: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Messages, newest first, each with every attempt (time, status, answer's start)."""
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise Invalid(
                "cursor: not one this service gave", [Problem(None, "cursor", "not a cursor")]
            )
        before = int(cursor)
    with request.app.state.service.db.read() as conn:
        rows, more = webhooks.messages(
            conn, webhook_id, state=state, lead_id=lead_id, limit=limit, before=before
        )
    page = s.MessagesPage(
        data=[_message(r) for r in rows], next_cursor=None if more is None else str(more)
    )
    return answer(page)


@router.post(
    "/webhooks/{webhook_id}/messages/{message_id}/redeliver",
    status_code=202,
    response_model=s.MessageOut,
    **scope("admin"),
)
def redeliver(webhook_id: str, message_id: str, request: Request) -> Response:
    """Send a message again, with the same `webhook-id`, on a fresh retry schedule."""
    row = request.app.state.service.write(
        lambda conn: webhooks.redeliver(conn, webhook_id, message_id)
    )
    return answer(_message(row), 202)


def _webhook(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": iso(row["created_at"]) or ""}


def _message(row: dict[str, Any]) -> s.MessageOut:
    pending = row["state"] == "pending"
    return s.MessageOut(
        id=row["id"],
        type=row["type"],
        lead_id=row["lead_id"],
        model=row["model"],
        state=row["state"],
        created_at=iso(row["created_at"]) or "",
        next_attempt_at=iso(row["next_at"]) if pending else None,
        delivered_at=iso(row["delivered_at"]),
        tries=row["tries"],
        payload=json.loads(row["body"]),
        attempts=[
            s.AttemptOut(
                at=iso(a["at"]) or "",
                status=a["status"],
                duration_ms=a["duration_ms"],
                outcome=a["outcome"],
                response=a["response"],
                error=a["error"],
            )
            for a in row["attempts"]
        ],
    )
