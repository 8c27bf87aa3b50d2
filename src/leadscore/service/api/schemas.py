"""What the API reads and writes, one pydantic model per direction: a table row is never
returned as it is, and an input never reaches the store unvalidated."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)
from pydantic_core import PydanticCustomError

from leadscore.service.webhooks import check_url
from leadscore.timeutil import TimeError, to_epoch

MAX_ITEMS = 1000  # per request (SPEC section 4): more is 413
RESERVED_ATTRIBUTES = frozenset({"lead_id"})
RESERVED_PROPERTIES = frozenset({"lead_id", "event", "timestamp", "event_id"})


def _epoch(value: Any) -> float:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "time", "expected a time (ISO 8601 or epoch seconds), got a boolean"
        )
    try:
        return to_epoch(value)
    except TimeError as exc:
        raise PydanticCustomError("time", str(exc)) from None


def _no_reserved(reserved: frozenset[str]):
    def check(mapping: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(mapping) & reserved)
        if clash:
            raise PydanticCustomError(
                "reserved", "{names}: reserved names, not allowed here", {"names": ", ".join(clash)}
            )
        if any(not k for k in mapping):
            raise PydanticCustomError("empty_name", "a name may not be empty")
        return mapping

    return check


Id = Annotated[StrictStr, Field(min_length=1, max_length=256)]
EventName = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None
EpochTime = Annotated[
    float, BeforeValidator(_epoch), Field(description="ISO 8601 or epoch seconds")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LeadIn(_In):
    lead_id: Id
    attributes: Annotated[
        dict[StrictStr, Scalar], AfterValidator(_no_reserved(RESERVED_ATTRIBUTES))
    ] = Field(default_factory=dict, description="set these; a null clears one; others are kept")


class LeadsIn(_In):
    # Read item by item (api.body), which answers 413 past MAX_ITEMS; here for the docs.
    leads: Annotated[list[LeadIn], Field(min_length=1, max_length=MAX_ITEMS)]


class EventIn(_In):
    event_id: Id | None = Field(None, description="stable id: a retry with it adds nothing")
    lead_id: Id
    event: EventName
    timestamp: EpochTime
    properties: Annotated[
        dict[StrictStr, Scalar], AfterValidator(_no_reserved(RESERVED_PROPERTIES))
    ] = Field(default_factory=dict)


class EventsIn(_In):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_ITEMS)]


# -- out ---------------------------------------------------------------------------------


class ReasonOut(BaseModel):
    rule: str
    points: float


class LifecycleOut(BaseModel):
    stage: Literal["open", "mql", "recycled"]
    mql_since: str | None


class ScoreOut(BaseModel):
    score: float
    fit_score: float
    engagement_score: float
    grade: str | None
    label: str | None
    mql: bool = Field(description="qualifies now")
    probability: float | None
    reasons: list[ReasonOut]
    factors: list[dict[str, Any]] | None = Field(
        None, description="the predictive part's top factors, when the model has one"
    )
    version: str
    as_of: str
    lifecycle: LifecycleOut


class LeadOut(BaseModel):
    lead_id: str
    attributes: dict[str, Any]
    scores: dict[str, ScoreOut]


class LeadsOut(BaseModel):
    leads: list[LeadOut]


class EventsOut(BaseModel):
    accepted: int
    duplicates: list[str]
    leads: list[LeadOut]


class LeadRow(BaseModel):
    lead_id: str
    model: str
    version: str
    attributes: dict[str, Any]
    score: float
    fit_score: float
    engagement_score: float
    grade: str | None
    label: str | None
    mql: bool
    probability: float | None
    reasons: list[ReasonOut]
    account: str | None
    lifecycle: LifecycleOut
    scored_at: str


class LeadPage(BaseModel):
    data: list[LeadRow]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    at: str
    model: str
    version: str
    score: float
    grade: str | None
    label: str | None
    mql: bool
    stage: str
    cause: dict[str, Any]


class HistoryPage(BaseModel):
    data: list[HistoryEntry]
    next_cursor: str | None


class AccountOut(BaseModel):
    account: str
    model: str
    score: float
    leads: int
    mql_leads: int


class AccountsOut(BaseModel):
    data: list[AccountOut]


class ModelVersionOut(BaseModel):
    name: str
    version: str
    created_at: str
    active: bool
    description: str
    predictive: bool


class ModelOut(BaseModel):
    name: str
    active_version: str | None
    versions: list[str]


class ModelsOut(BaseModel):
    data: list[ModelOut]


class VersionsOut(BaseModel):
    data: list[ModelVersionOut]


class JobStarted(BaseModel):
    job: str


class JobOut(BaseModel):
    id: str
    kind: str
    model: str
    version: str
    state: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    error: str | None
    created_at: str
    updated_at: str


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]


# -- webhooks ----------------------------------------------------------------------------

WebhookType = Literal[
    "lead.mql", "lead.grade_changed", "lead.score_changed", "lead.recycled", "model.review_due"
]


def _receiver_url(url: str) -> str:
    why = check_url(url)
    if why:
        raise PydanticCustomError("url", why)
    return url


class WebhookIn(_In):
    url: Annotated[
        StrictStr,
        Field(min_length=1, max_length=2000, description="http(s)"),
        AfterValidator(_receiver_url),
    ]
    events: Annotated[list[WebhookType], Field(min_length=1, max_length=10)]
    model: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = Field(
        None, description="one model's changes (default: every model's)"
    )
    min_score_change: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = Field(
        None,
        description="lead.score_changed: how far the score moves from the one last sent "
        "(default 10)",
    )


class MessageCounts(BaseModel):
    pending: int
    delivered: int
    failed: int


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    model: str | None
    min_score_change: float | None
    state: Literal["active", "disabled"]
    disabled_reason: str | None
    created_at: str
    messages: MessageCounts


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_...: shown once, verify signatures with it")


class WebhooksOut(BaseModel):
    data: list[WebhookOut]


class AttemptOut(BaseModel):
    at: str
    status: int | None = Field(description="the receiver's status (null: no answer)")
    duration_ms: float
    outcome: Literal["delivered", "retry", "failed", "disabled"]
    response: str | None = Field(description="the answer's first characters")
    error: str | None


class MessageOut(BaseModel):
    id: str = Field(description="the webhook-id header of every try")
    type: str
    lead_id: str | None
    model: str | None
    state: Literal["pending", "delivered", "failed"]
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    tries: int
    payload: dict[str, Any] = Field(description="the body sent")
    attempts: list[AttemptOut]


class MessagesPage(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None


# -- feedback and outcomes ---------------------------------------------------------------


class FeedbackIn(_In):
    verdict: Literal["accepted", "rejected"]
    reason: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = Field(
        None, description="required to reject: one of GET /api/v1/feedback-reasons"
    )
    note: Annotated[StrictStr, Field(max_length=2000)] | None = None
    model: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = Field(
        None, description="the model judged (default: the only active one)"
    )


class FeedbackOut(BaseModel):
    id: int
    lead_id: str
    model: str
    version: str
    verdict: Literal["accepted", "rejected"]
    reason: str | None
    note: str | None
    author: str = Field(description="the name of the key that gave it")
    at: str
    score: float | None = Field(description="the stored score when it was given")
    grade: str | None
    stage: str | None


class FeedbackList(BaseModel):
    data: list[FeedbackOut]


class ReasonIO(_In):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    needs_note: StrictBool = False


class ReasonsIO(_In):
    reasons: Annotated[list[ReasonIO], Field(min_length=1, max_length=100)]


class OutcomeIn(_In):
    lead_id: Id
    outcome: Literal["won", "lost", "open"]
    at: EpochTime
    amount: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class OutcomesIn(_In):
    outcomes: Annotated[list[OutcomeIn], Field(min_length=1, max_length=MAX_ITEMS)]


class OutcomesOut(BaseModel):
    accepted: int
    duplicates: list[int] = Field(description="indexes of outcomes stored before")
