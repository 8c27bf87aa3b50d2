"""Webhook subscriptions and their messages: create, list, delete, redeliver.

Knows nothing of HTTP: the routes (api/routes/webhooks.py) shape what these return."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, delete, func, select, update

from leadscore.service.errors import Conflict, Invalid, NotFound, Problem
from leadscore.service.outbox import DEFAULT_MIN_SCORE_CHANGE, TYPES
from leadscore.service.store.tables import (
    ActiveModel,
    ModelVersion,
    Webhook,
    WebhookAttempt,
    WebhookBaseline,
    WebhookMessage,
)

SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64
MESSAGE_STATES = ("pending", "delivered", "failed")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True)
class NewWebhook:
    url: str
    events: Sequence[str]
    model: str | None = None
    min_score_change: float | None = None


def check_url(url: str) -> str | None:
    """Why a URL cannot receive webhooks (None: it can)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "has a port that is not a number"
    return None


def create(conn: Connection, new: NewWebhook, now: float) -> tuple[dict[str, Any], str]:
    """The stored subscription and its secret (shown to the caller once)."""
    problems = []
    why = check_url(new.url)
    if why:
        problems.append(Problem(None, "url", why))
    unknown = sorted(set(new.events) - set(TYPES))
    if unknown:
        problems.append(Problem(None, "events", f"unknown: {', '.join(unknown)}"))
    if new.model is not None and not _model_known(conn, new.model):
        problems.append(Problem(None, "model", f"no model {new.model!r}"))
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in the subscription", problems)
    min_change = new.min_score_change
    if min_change is None and "lead.score_changed" in new.events:
        min_change = DEFAULT_MIN_SCORE_CHANGE
    secret = new_secret()
    row = {
        "id": "wh_" + secrets.token_hex(12),
        "url": new.url,
        "events": sorted(set(new.events), key=TYPES.index),
        "model": new.model,
        "min_score_change": min_change,
        "secret": secret,
        "state": "active",
        "disabled_reason": None,
        "created_at": now,
    }
    conn.execute(Webhook.__table__.insert(), row)
    return _public(row), secret


def _model_known(conn: Connection, name: str) -> bool:
    for table in (ModelVersion, ActiveModel):
        if conn.execute(select(table.name).where(table.name == name).limit(1)).first():
            return True
    return False


_PUBLIC = [c for c in Webhook.__table__.c if c.name != "secret"]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "secret"}


def list_webhooks(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(*_PUBLIC).order_by(Webhook.created_at, Webhook.id)).mappings()
    return [{**dict(r), **depth} for r, depth in _with_counts(conn, list(rows))]


def get(conn: Connection, webhook_id: str) -> dict[str, Any]:
    row = conn.execute(select(*_PUBLIC).where(Webhook.id == webhook_id)).mappings().first()
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    [(r, depth)] = _with_counts(conn, [row])
    return {**dict(r), **depth}


def _with_counts(conn: Connection, rows: list) -> list[tuple[Any, dict[str, int]]]:
    """Each subscription with how many of its messages are in each state."""
    if not rows:
        return []
    counts: dict[str, dict[str, int]] = {r["id"]: dict.fromkeys(MESSAGE_STATES, 0) for r in rows}
    query = (
        select(WebhookMessage.webhook_id, WebhookMessage.state, func.count())
        .where(WebhookMessage.webhook_id.in_(list(counts)))
        .group_by(WebhookMessage.webhook_id, WebhookMessage.state)
    )
    for webhook_id, state, n in conn.execute(query):
        counts[webhook_id][state] = n
    return [(r, {"messages": counts[r["id"]]}) for r in rows]


def remove(conn: Connection, webhook_id: str) -> None:
    """The subscription, its messages (sent or not), their attempts and its baselines."""
    found = conn.execute(delete(Webhook).where(Webhook.id == webhook_id))
    if found.rowcount == 0:
        raise NotFound(f"no webhook {webhook_id!r}")
    ids = select(WebhookMessage.id).where(WebhookMessage.webhook_id == webhook_id)
    conn.execute(delete(WebhookAttempt).where(WebhookAttempt.message_id.in_(ids)))
    conn.execute(delete(WebhookMessage).where(WebhookMessage.webhook_id == webhook_id))
    conn.execute(delete(WebhookBaseline).where(WebhookBaseline.webhook_id == webhook_id))


def messages(
    conn: Connection,
    webhook_id: str,
    *,
    state: str | None = None,
    lead_id: str | None = None,
    limit: int = 50,
    before: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """A subscription's messages, newest first, each with its attempts; and the cursor of
    the next page (the last message's seq) or None."""
    get(conn, webhook_id)
    m = WebhookMessage.__table__.c
    query = select(WebhookMessage.__table__).where(m.webhook_id == webhook_id)
    if state is not None:
        query = query.where(m.state == state)
    if lead_id is not None:
        query = query.where(m.lead_id == lead_id)
    if before is not None:
        query = query.where(m.seq < before)
    rows = [dict(r) for r in conn.execute(query.order_by(m.seq.desc()).limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = _with_attempts(conn, rows[:limit])
    return rows, (rows[-1]["seq"] if more else None)


def _with_attempts(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    attempts: dict[str, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if rows:
        a = WebhookAttempt.__table__.c
        for r in conn.execute(
            select(WebhookAttempt.__table__).where(a.message_id.in_(list(attempts))).order_by(a.id)
        ).mappings():
            attempts[r["message_id"]].append(dict(r))
    return [{**r, "attempts": attempts[r["id"]]} for r in rows]


def redeliver(conn: Connection, webhook_id: str, message_id: str) -> dict[str, Any]:
    """The message due again at once, with the same id and a fresh retry schedule."""
    hook = get(conn, webhook_id)
    if hook["state"] != "active":
        raise Conflict(
            f"webhook {webhook_id!r} is disabled ({hook['disabled_reason']}): "
            "create a new subscription"
        )
    m = WebhookMessage.__table__.c
    done = conn.execute(
        update(WebhookMessage)
        .where(m.webhook_id == webhook_id, m.id == message_id)
        .values(state="pending", tries=0, next_at=time.time(), lease_until=None, holder=None)
    )
    if done.rowcount == 0:
        raise NotFound(f"webhook {webhook_id!r} has no message {message_id!r}")
    row = conn.execute(select(WebhookMessage.__table__).where(m.id == message_id)).mappings().one()
    return _with_attempts(conn, [dict(row)])[0]


def depth(conn: Connection) -> int:
    """Messages waiting to be delivered (the outbox's depth), subscription by subscription
    so that each count walks the pending part of one index."""
    m = WebhookMessage.__table__.c
    count = select(func.count()).where(m.webhook_id == bindparam("w"), m.state == "pending")
    hooks = conn.execute(select(Webhook.id)).scalars().all()
    return sum(conn.execute(count, {"w": w}).scalar_one() for w in hooks)
