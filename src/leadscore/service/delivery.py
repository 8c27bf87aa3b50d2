"""The delivery worker: sends the outbox's messages at least once, signed.

Each service process runs one. A round claims the messages that are due, for each
active subscription at most `per_receiver` at a time (a slow receiver holds only its own
share of the threads), sends them from a thread pool and writes the attempts back in one
transaction per round.

- **At least once, one id.** A message is leased (`lease_until`, `holder`) before it is
  sent, for longer than one attempt can last, and its result is written only by the
  holder. A process that dies mid-attempt leaves a lease that runs out: another process
  (or itself, restarted) sends the message again, with the same `webhook-id`. On
  PostgreSQL the claim reads with `FOR UPDATE SKIP LOCKED`, so that processes claiming at
  the same moment take different messages; on SQLite the claim holds the write lock.
- **In order per lead.** Only the oldest pending message of a lead to a subscription can
  be claimed: a later one waits until it is delivered or has failed.
- **Signatures**: Standard Webhooks v1, base64 HMAC-SHA256 of `id.timestamp.body` with
  the subscription's secret; the body is the outbox's text, the same bytes on each try.
- **Answers**: 2xx delivers; 410 disables the subscription (its pending messages fail);
  anything else, a timeout or a refused connection tries again after the next delay of
  the schedule (+-20% jitter; a longer `Retry-After` is honoured, up to an hour or the
  schedule's longest delay), and after the last one the message has failed.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy import Connection, and_, bindparam, exists, select, update
from sqlalchemy.orm import aliased

from leadscore import __version__
from leadscore.service.background import HOLDER
from leadscore.service.metrics import DELIVERIES, DELIVERY_LAG, DELIVERY_SECONDS
from leadscore.service.settings import Settings
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Webhook, WebhookAttempt, WebhookMessage

log = logging.getLogger("leadscore.service")
EXCERPT = 500  # characters of an answer kept with its attempt
JITTER = 0.2
# A receiver's Retry-After is waited for up to this (or the schedule's longest delay).
RETRY_AFTER_CAP = 3600.0
PRUNE_SECONDS = 600  # how often sent and failed messages past their keep are deleted


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header (Standard Webhooks v1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass(frozen=True)
class Claimed:
    seq: int
    id: str
    webhook_id: str
    url: str
    secret: str
    body: str
    tries: int
    created_at: float


@dataclass(frozen=True)
class Attempt:
    message: Claimed
    at: float
    status: int | None
    duration_ms: float
    response: str | None
    error: str | None
    retry_after: float | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def send(client: httpx.Client, m: Claimed) -> Attempt:
    """One POST of a message; never raises (a failure is the attempt's outcome)."""
    at = time.time()
    stamp = int(at)
    headers = {
        "content-type": "application/json",
        "user-agent": f"leadscore/{__version__}",
        "webhook-id": m.id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature(m.secret, m.id, stamp, m.body),
    }
    started = time.perf_counter()
    status = retry_after = response = error = None
    try:
        with client.stream("POST", m.url, content=m.body.encode(), headers=headers) as r:
            status = r.status_code
            retry_after = _retry_after(r.headers.get("retry-after"), at)
            first = b""
            for chunk in r.iter_raw():  # the first bytes are enough to say what went wrong
                first += chunk
                if len(first) >= EXCERPT * 4:
                    break
            response = first.decode("utf-8", errors="replace")[:EXCERPT] or None
    except httpx.TimeoutException:
        error = f"no answer within {client.timeout.read:g} s"
    except httpx.HTTPError as exc:  # refused, reset, a name that does not resolve...
        error = f"{type(exc).__name__}: {exc}"[:EXCERPT]
    duration = (time.perf_counter() - started) * 1000
    return Attempt(m, at, status, duration, response, error, retry_after)


def _retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def next_delay(schedule: tuple[float, ...], tries: int, retry_after: float | None) -> float | None:
    """Seconds until the next try after `tries` failed ones (None: no tries left)."""
    if tries > len(schedule):
        return None
    delay = schedule[tries - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(*schedule, RETRY_AFTER_CAP)))
    return delay


# -- claiming --------------------------------------------------------------------------

_m = WebhookMessage.__table__.c
_earlier = aliased(WebhookMessage)


def _due(postgres: bool):
    """A subscription's oldest due messages that no earlier message of their lead waits
    for, not leased by anyone (or with a lease run out)."""
    query = (
        select(_m.seq, _m.id, _m.body, _m.tries, _m.created_at)
        .where(
            _m.webhook_id == bindparam("w"),
            _m.state == "pending",
            _m.next_at <= bindparam("now"),
            (_m.lease_until.is_(None)) | (_m.lease_until < bindparam("now")),
            ~exists().where(
                and_(
                    _earlier.webhook_id == _m.webhook_id,
                    _earlier.lead_id == _m.lead_id,
                    _earlier.state == "pending",
                    _earlier.seq < _m.seq,
                )
            ),
        )
        .order_by(_m.seq)
        .limit(bindparam("n"))
    )
    return query.with_for_update(skip_locked=True, of=WebhookMessage) if postgres else query


_LEASE = (
    update(WebhookMessage)
    .where(_m.seq.in_(bindparam("seqs", expanding=True)), _m.state == "pending")
    .values(lease_until=bindparam("until"), holder=HOLDER)
)


@dataclass(frozen=True)
class Receiver:
    id: str
    url: str
    secret: str


def receivers(conn: Connection) -> list[Receiver]:
    rows = conn.execute(
        select(Webhook.id, Webhook.url, Webhook.secret).where(Webhook.state == "active")
    )
    return [Receiver(r.id, r.url, r.secret) for r in rows]


def claim(db: Database, slots: Callable[[str], int], lease: float) -> list[Claimed]:
    """Lease up to `slots(subscription)` due messages of each subscription."""
    now = time.time()
    postgres = db.dialect == "postgresql"
    with db.read() as conn:  # SQLite: no write lock taken when nothing is due
        subs = [r for r in receivers(conn) if slots(r.id) > 0]
        wanted = [r for r in subs if conn.execute(_due(False), _args(r, now, 1)).first()]
    if not wanted:
        return []
    out: list[Claimed] = []
    with db.write() as conn:
        for r in wanted:
            rows = conn.execute(_due(postgres), _args(r, now, slots(r.id))).all()
            if not rows:
                continue
            conn.execute(_LEASE, {"seqs": [x.seq for x in rows], "until": now + lease})
            out += [
                Claimed(x.seq, x.id, r.id, r.url, r.secret, x.body, x.tries, x.created_at)
                for x in rows
            ]
    return out


def _args(r: Receiver, now: float, n: int) -> dict:
    return {"w": r.id, "now": now, "n": n}


# -- results ---------------------------------------------------------------------------

_MINE = and_(_m.seq == bindparam("s"), _m.holder == HOLDER, _m.state == "pending")


def record(conn: Connection, attempts: list[Attempt], schedule: tuple[float, ...]) -> None:
    """Every attempt kept, and each message moved on: delivered, retried or failed."""
    now = time.time()
    rows, delivered, retried, failed, gone = [], [], [], [], set()
    for a in attempts:
        m = a.message
        if a.delivered:
            outcome = "delivered"
            delivered.append({"s": m.seq, "at": a.at + a.duration_ms / 1000, "st": a.status})
            DELIVERY_LAG.observe(max(0.0, now - m.created_at))
        elif a.status == 410:
            outcome = "disabled"
            gone.add(m.webhook_id)
            failed.append({"s": m.seq, "st": a.status, "t": m.tries + 1})
        else:
            delay = next_delay(schedule, m.tries + 1, a.retry_after)
            if delay is None:
                outcome = "failed"
                failed.append({"s": m.seq, "st": a.status, "t": m.tries + 1})
            else:
                outcome = "retry"
                retried.append({"s": m.seq, "st": a.status, "t": m.tries + 1, "next": now + delay})
        DELIVERIES.labels(outcome).inc()
        DELIVERY_SECONDS.observe(a.duration_ms / 1000)
        rows.append(
            {
                "message_id": m.id,
                "at": a.at,
                "status": a.status,
                "duration_ms": round(a.duration_ms, 3),
                "outcome": outcome,
                "response": a.response,
                "error": a.error,
                "sender": HOLDER,
            }
        )
    conn.execute(WebhookAttempt.__table__.insert(), rows)
    done = dict(lease_until=None, holder=None)
    if delivered:
        conn.execute(
            update(WebhookMessage)
            .where(_MINE)
            .values(
                state="delivered",
                delivered_at=bindparam("at"),
                last_status=bindparam("st"),
                tries=_m.tries + 1,
                **done,
            ),
            delivered,
        )
    if retried:
        conn.execute(
            update(WebhookMessage)
            .where(_MINE)
            .values(
                last_status=bindparam("st"), tries=bindparam("t"), next_at=bindparam("next"), **done
            ),
            retried,
        )
    if failed:
        conn.execute(
            update(WebhookMessage)
            .where(_MINE)
            .values(state="failed", last_status=bindparam("st"), tries=bindparam("t"), **done),
            failed,
        )
    for webhook_id in gone:
        disable(conn, webhook_id, f"the receiver answered 410 Gone at {now:.0f}", now)


def disable(conn: Connection, webhook_id: str, reason: str, now: float) -> None:
    """A subscription the receiver asked to end (410): disabled, its pending messages
    failed (nothing more is sent to it)."""
    conn.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.state == "active")
        .values(state="disabled", disabled_reason=reason)
    )
    conn.execute(
        update(WebhookMessage)
        .where(_m.webhook_id == webhook_id, _m.state == "pending")
        .values(state="failed", lease_until=None, holder=None)
    )
    log.warning("webhook disabled", extra={"webhook": webhook_id, "reason": reason})


def prune(db: Database, before: float, limit: int = 5000) -> int:
    """Delivered and failed messages created before `before`, with their attempts,
    deleted (at most `limit` a call, so that a long backlog of old rows does not hold the
    write lock); returns how many."""
    with db.write() as conn:
        old = (
            conn.execute(
                select(_m.id)
                .where(_m.state.in_(("delivered", "failed")), _m.created_at < before)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if old:
            a = WebhookAttempt.__table__.c
            conn.execute(WebhookAttempt.__table__.delete().where(a.message_id.in_(old)))
            conn.execute(WebhookMessage.__table__.delete().where(_m.id.in_(old)))
    return len(old)


# -- the worker ------------------------------------------------------------------------


class Deliverer:
    """The thread that claims, sends (from a pool) and records, until stopped."""

    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.schedule = settings.webhook_retry_seconds
        self.poll = settings.webhook_poll_seconds
        self.per_receiver = settings.webhook_per_receiver
        self.threads = settings.webhook_threads
        self.keep = settings.webhook_keep_days * 86400
        self._next_prune = time.monotonic() + PRUNE_SECONDS
        timeout = settings.webhook_timeout_seconds
        # Longer than one attempt can take (connect, send, the answer's head and first
        # bytes, each within the timeout), so that no one else sends it meanwhile.
        self.lease = 4 * timeout + 5
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.threads, max_keepalive_connections=64),
        )
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="leadscore-webhook")
        self._done: queue.SimpleQueue[Attempt] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="leadscore-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """New messages committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._round()
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("webhook delivery round failed")
                busy = False
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()
        self._flush()

    def _round(self) -> bool:
        finished = self._flush()
        if self.keep > 0 and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_SECONDS
            prune(self.db, time.time() - self.keep)
        room = self.threads - sum(self._inflight.values())
        claimed: list[Claimed] = []
        if room > 0:

            def slots(webhook_id: str) -> int:
                return min(room, self.per_receiver - self._inflight.get(webhook_id, 0))

            claimed = claim(self.db, slots, self.lease)
        for m in claimed:
            self._inflight[m.webhook_id] = self._inflight.get(m.webhook_id, 0) + 1
            self._pool.submit(self._send, m)
        return bool(finished or claimed)

    def _send(self, m: Claimed) -> None:
        try:
            self._done.put(send(self.client, m))
        finally:
            self._wake.set()

    def _flush(self) -> int:
        attempts: list[Attempt] = []
        while True:
            try:
                attempts.append(self._done.get_nowait())
            except queue.Empty:
                break
        if not attempts:
            return 0
        for a in attempts:
            self._inflight[a.message.webhook_id] -= 1
        # Not written (the database away): the leases run out and the messages go again,
        # with their ids; at least once, as promised.
        with self.db.write() as conn:
            record(conn, attempts, self.schedule)
        return len(attempts)
