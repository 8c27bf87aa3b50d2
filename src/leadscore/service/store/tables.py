"""The tables of the service (SQLAlchemy 2). Alembic's migrations make them; a test checks
that the migrations and these classes agree.

Times are epoch seconds (double precision): the one-lead scorer reads them as they are,
to the microsecond, and the API writes them as ISO 8601.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(256)  # lead ids, event ids, anonymous ids: the API refuses longer ones
NAME = String(200)
Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite's rowid is a 64-bit integer only when the column is declared INTEGER.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the key: keys are 32 random bytes, so a fast hash is as safe as a slow one.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown by `keys list`, to tell keys apart
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class Lead(Base):
    __tablename__ = "leads"
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    # The latest event's time: inactivity reads it instead of the whole history.
    last_event_at: Mapped[float | None] = mapped_column(Float)
    # Bumped by every change of attributes or events: an activation rescores in the
    # background, then redoes online the leads that changed meanwhile.
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # What each active model's engagement rules still need of the events, by model
    # (leadscore.service.engagement): an event then costs its rules, not the history.
    engagement: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ID, unique=True)
    lead_id: Mapped[str] = mapped_column(ID)
    event: Mapped[str] = mapped_column(NAME)
    ts: Mapped[float] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(Json)
    received_at: Mapped[float] = mapped_column(Float)
    # A lead's events of one type by time: what a window reads.
    __table_args__ = (Index("ix_events_lead_event_ts", "lead_id", "event", "ts"),)


class AnonymousEvent(Base):
    """Events of a visitor known only by an anonymous id, until an identify joins them."""

    __tablename__ = "anonymous_events"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ID, unique=True)
    anonymous_id: Mapped[str] = mapped_column(ID, index=True)
    event: Mapped[str] = mapped_column(NAME)
    ts: Mapped[float] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(Json)
    received_at: Mapped[float] = mapped_column(Float)


class Visitor(Base):
    """An anonymous id joined to a lead by an identify: later calls with it go to the lead."""

    __tablename__ = "visitors"
    anonymous_id: Mapped[str] = mapped_column(ID, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID, index=True)
    joined_at: Mapped[float] = mapped_column(Float)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    yaml: Mapped[str] = mapped_column(Text)
    predictive: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ux_model_versions", "name", "version", unique=True),)


class ActiveModel(Base):
    __tablename__ = "active_models"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    version: Mapped[str] = mapped_column(NAME)
    activated_at: Mapped[float] = mapped_column(Float)


class Score(Base):
    """A lead's stored score under one model: rewritten by every change and by the sweep."""

    __tablename__ = "scores"
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    model: Mapped[str] = mapped_column(NAME, primary_key=True)
    version: Mapped[str] = mapped_column(NAME)
    score: Mapped[float] = mapped_column(Float)
    fit_score: Mapped[float] = mapped_column(Float)
    engagement_score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(NAME)
    label: Mapped[str | None] = mapped_column(NAME)
    mql: Mapped[bool]
    probability: Mapped[float | None] = mapped_column(Float)
    # JSON text, written once by changes.record: compared as text, decoded only to answer.
    reasons: Mapped[str] = mapped_column(Text)
    factors: Mapped[str | None] = mapped_column(Text)
    account: Mapped[str | None] = mapped_column(String(512))  # the normalized account key
    stage: Mapped[str] = mapped_column(String(16))  # open | mql | recycled
    mql_since: Mapped[float | None] = mapped_column(Float)
    scored_at: Mapped[float] = mapped_column(Float)
    # Keyset pagination: (model, [filter], score, lead_id), read forwards or backwards.
    __table_args__ = (
        Index("ix_scores_model_score", "model", "score", "lead_id"),
        Index("ix_scores_model_grade", "model", "grade", "score", "lead_id"),
        Index("ix_scores_model_label", "model", "label", "score", "lead_id"),
        Index("ix_scores_model_stage", "model", "stage", "score", "lead_id"),
        # The rep's queue, open leads of a grade: with two one-column indexes, the walk
        # down one skips every row the other filter refuses (15 ms at 100,000, 0.2 here).
        Index("ix_scores_model_stage_grade", "model", "stage", "grade", "score", "lead_id"),
        Index("ix_scores_model_account", "model", "account", "score", "lead_id"),
    )


class LedgerEntry(Base):
    """Every change of a lead's score, grade, label or stage, with its cause."""

    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ID)
    model: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    at: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(NAME)
    label: Mapped[str | None] = mapped_column(NAME)
    mql: Mapped[bool]
    stage: Mapped[str] = mapped_column(String(16))
    cause: Mapped[dict[str, Any]] = mapped_column(Json)
    __table_args__ = (Index("ix_ledger_lead", "lead_id", "id"),)


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_jobs_state", "state", "created_at"),)


class Lease(Base):
    """Work that one process of several does at a time (the sweep, a job): held until."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Float)


class Webhook(Base):
    """A subscription: which changes of which model to POST to a URL, signed with `secret`.

    The secret is kept as given (`whsec_` + base64): signing needs the key itself, so it
    cannot be hashed as API keys are. The API shows it once, at creation."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(Json)
    model: Mapped[str | None] = mapped_column(NAME)
    min_score_change: Mapped[float | None] = mapped_column(Float)
    secret: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # active | disabled
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class WebhookMessage(Base):
    """The outbox: a message written in the transaction of the change that caused it.

    `id` is the `webhook-id` of every attempt; `seq` orders a lead's messages. A worker
    leases a message (`lease_until`) for the length of one attempt, so that no two
    processes send it at once."""

    __tablename__ = "webhook_messages"
    seq: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    webhook_id: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[str | None] = mapped_column(ID)
    model: Mapped[str | None] = mapped_column(NAME)
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, byte for byte on every try
    created_at: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    tries: Mapped[int] = mapped_column(Integer, default=0)  # into the retry schedule
    next_at: Mapped[float] = mapped_column(Float)
    lease_until: Mapped[float | None] = mapped_column(Float)
    holder: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[float | None] = mapped_column(Float)
    last_status: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        # A subscription's pending messages, oldest first: what a claim walks, and what
        # the outbox's depth counts (per subscription: an index on the state alone would
        # tempt the planner away from this one).
        Index("ix_webhook_messages_pending", "webhook_id", "state", "seq"),
        # A lead's messages to one subscription in order: only the oldest pending is sent.
        Index("ix_webhook_messages_order", "webhook_id", "lead_id", "state", "seq"),
        Index("ix_webhook_messages_list", "webhook_id", "seq"),
        Index("ix_webhook_messages_lead", "lead_id"),
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[float] = mapped_column(Float)
    status: Mapped[int | None] = mapped_column(Integer)  # None: no answer (refused, timeout)
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered | retry | failed | disabled
    response: Mapped[str | None] = mapped_column(Text)  # the answer's first characters
    error: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str] = mapped_column(String(64))  # the process that sent it


class WebhookBaseline(Base):
    """The score last sent to a `lead.score_changed` subscription (or the first seen):
    the sweep's small decay steps add up to a change worth a message."""

    __tablename__ = "webhook_baselines"
    webhook_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    lead_id: Mapped[str] = mapped_column(ID, primary_key=True)
    model: Mapped[str] = mapped_column(NAME, primary_key=True)
    score: Mapped[float] = mapped_column(Float)


class ServiceSecret(Base):
    """Random secrets every process of a service shares (the dashboard's cookie key)."""

    __tablename__ = "service_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class ModelReview(Base):
    """A `leadscore review` report (HTML) that a model's owner uploaded for a version."""

    __tablename__ = "model_reviews"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    html: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[float] = mapped_column(Float)
    uploaded_by: Mapped[str] = mapped_column(NAME)  # the key's name
    __table_args__ = (Index("ix_model_reviews_version", "model", "version", "id"),)


class FeedbackReason(Base):
    """The reasons a rep may give for rejecting a lead: a list the team edits."""

    __tablename__ = "feedback_reasons"
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    needs_note: Mapped[bool]  # "other": the rep says what


class Feedback(Base):
    """A rep's verdict on a lead, with the score they saw when they gave it."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ID)
    model: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    verdict: Mapped[str] = mapped_column(String(16))  # accepted | rejected
    reason: Mapped[str | None] = mapped_column(NAME)
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(NAME)  # the key's name
    at: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(NAME)
    stage: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (
        Index("ix_feedback_lead", "lead_id", "id"),
        Index("ix_feedback_model_at", "model", "at"),
    )


class Outcome(Base):
    """What became of a lead in the CRM: won, lost, or open again."""

    __tablename__ = "outcomes"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ID)
    outcome: Mapped[str] = mapped_column(String(8))  # won | lost | open
    at: Mapped[float] = mapped_column(Float)
    amount: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # api | import
    __table_args__ = (
        # A CRM that sends the same outcome again adds nothing.
        Index("ux_outcomes", "lead_id", "outcome", "at", unique=True),
        Index("ix_outcomes_at", "at"),
    )


class ScoreSnapshot(Base):
    """A lead's score as it was at a moment that a review measures: when it became MQL,
    and when its outcome arrived (the model as the reps saw it, not as it scores today)."""

    __tablename__ = "score_snapshots"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ID)
    model: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(16))  # mql | outcome
    at: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    fit_score: Mapped[float] = mapped_column(Float)
    engagement_score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(NAME)
    label: Mapped[str | None] = mapped_column(NAME)
    probability: Mapped[float | None] = mapped_column(Float)
    stage: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[str] = mapped_column(Text)
    __table_args__ = (
        Index("ix_snapshots_model_kind_at", "model", "kind", "at"),
        Index("ix_snapshots_lead", "lead_id", "model"),
    )


class ModelAlert(Base):
    """A review that a version's own numbers asked for: sent once per version and kind."""

    __tablename__ = "model_alerts"
    id: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(NAME)
    version: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(32))  # acceptance | conversion | drift
    at: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)  # what was measured, in words
    __table_args__ = (Index("ux_model_alerts", "model", "version", "kind", unique=True),)
