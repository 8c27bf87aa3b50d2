"""The outbox: the webhook messages a change causes, written in the change's transaction.

`changes.record` and `changes.recycle` call `write` with what changed, before their
caller commits: a change that rolls back leaves no message, and a committed change has
all of its messages. The delivery worker (`delivery`) sends them afterwards.

What each type means (a subscription receives the types it names, for its model or all):
- `lead.mql`: the stage became `mql` (once; again only after a recycle);
- `lead.recycled`: a recycle moved the stage to `recycled`;
- `lead.grade_changed`: the grade differs from the lead's previous stored grade (a lead's
  first score is not a change: an import does not send one message per lead);
- `lead.score_changed`: the score is at least `min_score_change` away from the score
  last sent to this subscription for the lead (at first, the score the lead had when
  the subscription first saw it change), so that the sweep's small decay steps add up.
  In that message `previous.score` is that score, what the receiver last heard.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from leadscore.service.store.database import id_chunks
from leadscore.service.store.tables import (
    Webhook,
    WebhookAttempt,
    WebhookBaseline,
    WebhookMessage,
)
from leadscore.service.times import iso

if TYPE_CHECKING:
    from leadscore.service.changes import Change

LEAD_TYPES = ("lead.mql", "lead.grade_changed", "lead.score_changed", "lead.recycled")
TYPES = (*LEAD_TYPES, "model.review_due")
DEFAULT_MIN_SCORE_CHANGE = 10.0
# The score fields of a message's `data`, as GET /leads shows them (SPEC section 3).
_PREVIOUS = ("version", "score", "grade", "label", "mql", "stage")


@dataclass(frozen=True)
class Subscription:
    id: str
    events: frozenset[str]
    model: str | None
    min_score_change: float

    def wants(self, kind: str, model: str) -> bool:
        return kind in self.events and (self.model is None or self.model == model)


_ACTIVE = select(Webhook.id, Webhook.events, Webhook.model, Webhook.min_score_change).where(
    Webhook.state == "active"
)


def subscriptions(conn: Connection) -> list[Subscription]:
    return [
        Subscription(
            r.id,
            frozenset(r.events),
            r.model,
            DEFAULT_MIN_SCORE_CHANGE if r.min_score_change is None else r.min_score_change,
        )
        for r in conn.execute(_ACTIVE)
    ]


def message_id() -> str:
    """A message's `webhook-id`: random, so that ids never repeat across databases."""
    return "msg_" + secrets.token_hex(16)


class _Written:
    """How many messages this process has written: a writer that sees it move after its
    commit wakes the delivery worker, instead of waiting for the next poll."""

    count = 0


WRITTEN = _Written()


def write(conn: Connection, model: str, changes: Sequence[Change], at: float) -> int:
    """The messages that `changes` (of one model) cause, inserted; returns how many."""
    if not changes:
        return 0
    subs = [s for s in subscriptions(conn) if any(s.wants(t, model) for t in LEAD_TYPES)]
    if not subs:
        return 0
    baselines = _baselines(
        conn, [s for s in subs if s.wants("lead.score_changed", model)], model, changes
    )
    messages: list[dict[str, Any]] = []
    for c in changes:
        for sub in subs:
            for kind, previous in _kinds(sub, c, baselines):
                messages.append(_message(sub.id, kind, c, previous, at))
    _save_baselines(conn, model, baselines)
    if messages:
        conn.execute(insert(WebhookMessage), messages)
        WRITTEN.count += 1
    return len(messages)


def write_model_message(
    conn: Connection, model: str, kind: str, data: dict[str, Any], at: float
) -> int:
    """A message about a model (`model.review_due`) to every subscription that wants it."""
    rows = [
        _row(sub.id, kind, None, model, {"type": kind, "timestamp": iso(at), "data": data}, at)
        for sub in subscriptions(conn)
        if sub.wants(kind, model)
    ]
    if rows:
        conn.execute(insert(WebhookMessage), rows)
        WRITTEN.count += 1
    return len(rows)


def _kinds(
    sub: Subscription, c: Change, baselines: dict[tuple[str, str], _Baseline]
) -> list[tuple[str, dict[str, Any] | None]]:
    before, now = c.previous, c.current
    previous = None if before is None else {k: before[k] for k in _PREVIOUS}
    out: list[tuple[str, dict[str, Any] | None]] = []
    was = before["stage"] if before else None
    if sub.wants("lead.mql", c.model) and now["stage"] == "mql" and was != "mql":
        out.append(("lead.mql", previous))
    if sub.wants("lead.recycled", c.model) and now["stage"] == "recycled" and was != "recycled":
        out.append(("lead.recycled", previous))
    if (
        sub.wants("lead.grade_changed", c.model)
        and before is not None
        and before["grade"] != now["grade"]
    ):
        out.append(("lead.grade_changed", previous))
    mark = baselines.get((sub.id, c.lead_id))
    if mark is not None and abs(now["score"] - mark.score) >= sub.min_score_change:
        out.append(("lead.score_changed", {**(previous or {}), "score": mark.score}))
        mark.score, mark.dirty = now["score"], True
    return out


@dataclass
class _Baseline:
    score: float
    stored: bool
    dirty: bool = False


def _baselines(
    conn: Connection, subs: list[Subscription], model: str, changes: Sequence[Change]
) -> dict[tuple[str, str], _Baseline]:
    """(subscription, lead) -> the score to measure a change from: the stored baseline,
    else the lead's score before this change (its first score for a new lead)."""
    if not subs:
        return {}
    ids = [c.lead_id for c in changes]
    t = WebhookBaseline.__table__.c
    stored: dict[tuple[str, str], float] = {}
    query = select(t.webhook_id, t.lead_id, t.score).where(
        t.model == model,
        t.webhook_id.in_(bindparam("subs", expanding=True)),
        t.lead_id.in_(bindparam("ids", expanding=True)),
    )
    for part in id_chunks(ids):
        for r in conn.execute(query, {"subs": [s.id for s in subs], "ids": part}):
            stored[(r.webhook_id, r.lead_id)] = r.score
    out: dict[tuple[str, str], _Baseline] = {}
    for c in changes:
        start = (c.previous or c.current)["score"]
        for sub in subs:
            key = (sub.id, c.lead_id)
            if key in out:
                continue
            if key in stored:
                out[key] = _Baseline(stored[key], stored=True)
            else:
                out[key] = _Baseline(start, stored=False, dirty=True)
    return out


def _save_baselines(
    conn: Connection, model: str, baselines: dict[tuple[str, str], _Baseline]
) -> None:
    t = WebhookBaseline.__table__
    new = [
        {"webhook_id": w, "lead_id": lead, "model": model, "score": b.score}
        for (w, lead), b in baselines.items()
        if b.dirty and not b.stored
    ]
    moved = [
        {"w": w, "lead": lead, "m": model, "score": b.score}
        for (w, lead), b in baselines.items()
        if b.dirty and b.stored
    ]
    if new:
        conn.execute(insert(t), new)
    if moved:
        conn.execute(
            t.update()
            .where(
                t.c.webhook_id == bindparam("w"),
                t.c.lead_id == bindparam("lead"),
                t.c.model == bindparam("m"),
            )
            .values(score=bindparam("score")),
            moved,
        )


def _message(
    webhook_id: str, kind: str, c: Change, previous: dict[str, Any] | None, at: float
) -> dict[str, Any]:
    now = c.current
    data = {
        "lead_id": c.lead_id,
        "model": c.model,
        "version": now["version"],
        "score": now["score"],
        "fit_score": now["fit_score"],
        "engagement_score": now["engagement_score"],
        "grade": now["grade"],
        "label": now["label"],
        "mql": bool(now["mql"]),
        "probability": now["probability"],
        "reasons": json.loads(now["reasons"] or "[]"),
        "lifecycle": {"stage": now["stage"], "mql_since": iso(now["mql_since"])},
        "scored_at": iso(now["scored_at"]),
        "cause": c.cause,
        "previous": None if previous is None else {**previous, "mql": bool(previous["mql"])},
    }
    body = {"type": kind, "timestamp": iso(at), "data": data}
    return _row(webhook_id, kind, c.lead_id, c.model, body, at)


def _row(
    webhook_id: str, kind: str, lead_id: str | None, model: str | None, body: dict, at: float
) -> dict[str, Any]:
    return {
        "id": message_id(),
        "webhook_id": webhook_id,
        "lead_id": lead_id,
        "model": model,
        "type": kind,
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False),
        "created_at": at,
        "state": "pending",
        "tries": 0,
        "next_at": at,
        "lease_until": None,
        "holder": None,
        "delivered_at": None,
        "last_status": None,
    }


def forget_lead(conn: Connection, lead_id: str) -> None:
    """Erasure: every message about the lead (sent or not), its attempts, its baselines."""
    ids = select(WebhookMessage.id).where(WebhookMessage.lead_id == lead_id)
    conn.execute(delete(WebhookAttempt).where(WebhookAttempt.message_id.in_(ids)))
    conn.execute(delete(WebhookMessage).where(WebhookMessage.lead_id == lead_id))
    conn.execute(delete(WebhookBaseline).where(WebhookBaseline.lead_id == lead_id))
