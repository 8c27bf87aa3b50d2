"""Segment's HTTP Tracking API, so that existing tracking sends events unchanged.

A client's host is `http://SERVER/segment`; its write key is an `ingest` key (HTTP Basic
with the key as user name, or `writeKey` in the body). `identify` upserts the lead
`userId` with its traits; `track` is an event; `page` is the event `page_view`, `screen`
the event `screen_view`; `alias` joins `previousId` to `userId`; `group` is accepted and
not stored. A call with only an `anonymousId` is kept under it, and joins the lead when an
identify (or alias) carries both ids. Unlike POST /api/v1/events, a `userId` not seen
before makes its lead: that is how Segment's destinations behave. Nested traits and
properties are flattened with dots (`address.city`); lists are kept as JSON text.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from leadscore.service import ingest
from leadscore.service.api.auth import check, presented_key
from leadscore.service.api.problems import problem
from leadscore.service.api.schemas import MAX_ITEMS
from leadscore.service.errors import Problem
from leadscore.service.metrics import DUPLICATES, EVENTS
from leadscore.timeutil import TimeError, to_epoch

router = APIRouter(prefix="/segment/v1", tags=["segment"])
KINDS = ("identify", "track", "page", "screen", "alias", "group")
_DOC = {
    "x-scope": "ingest",
    "security": [{"basic": []}, {"bearer": []}],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {"400": {"description": "a malformed body"}, "401": {"description": "no key"}},
}


class BadCall(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("bad call")
        self.problems = problems


@router.post("/batch", openapi_extra=_DOC, summary="Segment batch")
async def batch(request: Request) -> JSONResponse:
    return await _receive(request, None)


@router.post("/track", openapi_extra=_DOC, summary="Segment track")
async def track(request: Request) -> JSONResponse:
    return await _receive(request, "track")


@router.post("/identify", openapi_extra=_DOC, summary="Segment identify")
async def identify(request: Request) -> JSONResponse:
    return await _receive(request, "identify")


@router.post("/page", openapi_extra=_DOC, summary="Segment page")
async def page(request: Request) -> JSONResponse:
    return await _receive(request, "page")


async def _receive(request: Request, kind: str | None) -> JSONResponse:
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":  # Segment's gzip option
        raw = _gunzip(raw, request.app.state.service.settings.max_body_bytes)
        if raw is None:
            check(request, presented_key(request), "ingest")
            return problem(400, "the body is not gzip, or unpacks to more than the limit")
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        body = None
        key = presented_key(request)
        check(request, key, "ingest")
        return problem(400, "the body is not valid JSON")
    key = presented_key(request)
    if key is None and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    check(request, key, "ingest")
    if not isinstance(body, dict):
        return problem(400, "expected a JSON object")
    calls = body.get("batch") if kind is None else [{**body, "type": kind}]
    if not isinstance(calls, list):
        return problem(
            400,
            "batch: expected a list of calls",
            [{"index": None, "field": "batch", "reason": "required, a list"}],
        )
    if len(calls) > MAX_ITEMS:
        return problem(413, f"too many items: at most {MAX_ITEMS} per request")
    now = time.time()
    try:
        parsed = [_parse(i if kind is None else None, c, now) for i, c in enumerate(calls)]
    except BadCall as exc:
        return problem(
            400,
            f"{len(exc.problems)} problem(s) in the request; nothing was stored",
            [p.as_dict() for p in exc.problems],
        )
    problems = [p for ps in parsed if isinstance(ps, list) for p in ps]
    if problems:
        return problem(
            400,
            f"{len(problems)} problem(s) in the request; nothing was stored",
            [p.as_dict() for p in problems],
        )
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(_store, request.app.state.service, parsed, now)
    return JSONResponse({"success": True})


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """The unpacked body, or None when it is not gzip or unpacks beyond `limit` bytes."""
    unpack = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = unpack.decompress(data, limit + 1)
    except zlib.error:
        return None
    return None if len(out) > limit or unpack.unconsumed_tail else out


def _parse(index: int | None, call: Any, now: float) -> dict[str, Any] | list[Problem]:
    """One call checked: its kind, ids, time and content; or its problems."""
    problems: list[Problem] = []

    def bad(field: str, reason: str) -> None:
        problems.append(Problem(index, field, reason))

    if not isinstance(call, dict):
        return [Problem(index, "(call)", "expected an object")]
    kind = call.get("type")
    if kind not in KINDS:
        bad("type", f"expected one of {', '.join(KINDS)}")
        return problems
    user = _id(call, "userId", bad)
    anon = _id(call, "anonymousId", bad)
    if kind == "alias":
        anon = _id(call, "previousId", bad)
        if user is None or anon is None:
            bad("userId", "alias needs userId and previousId")
    elif user is None and anon is None:
        bad("userId", "a call needs userId or anonymousId")
    when = call.get("timestamp") or call.get("originalTimestamp")
    ts = now
    if when is not None:
        try:
            if isinstance(when, bool):
                raise TimeError("expected a time")
            ts = to_epoch(when)
        except TimeError as exc:
            bad("timestamp", str(exc))
    message = call.get("messageId")
    if message is not None and (not isinstance(message, str) or not 0 < len(message) <= 256):
        bad("messageId", "expected a text of 1 to 256 characters")
    out: dict[str, Any] = {"kind": kind, "user": user, "anon": anon, "ts": ts, "id": message}
    if kind == "identify":
        out["traits"] = _flat(call.get("traits"), "traits", bad, reserved={"lead_id"})
    elif kind == "track":
        event = call.get("event")
        if not isinstance(event, str) or not 0 < len(event) <= 200:
            bad("event", "required: the event's name (1 to 200 characters)")
        out["event"] = event
        out["properties"] = _flat(call.get("properties"), "properties", bad)
    elif kind in ("page", "screen"):
        props = _flat(call.get("properties"), "properties", bad)
        name = call.get("name")
        if isinstance(name, str) and name:
            props.setdefault("name", name)
        out["event"] = "page_view" if kind == "page" else "screen_view"
        out["properties"] = props
    return problems or out


_RESERVED = {"lead_id", "event", "timestamp", "event_id"}


def _id(call: dict, field: str, bad: Any) -> str | None:
    value = call.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # Segment's libraries accept numeric ids
    if not isinstance(value, str) or len(value) > 256:
        bad(field, "expected a text of at most 256 characters")
        return None
    return value


def _flat(value: Any, field: str, bad: Any, reserved: set[str] = _RESERVED) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        bad(field, "expected an object")
        return {}
    out: dict[str, Any] = {}

    def walk(prefix: str, obj: dict) -> None:
        for k, v in obj.items():
            name = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(name + ".", v)
            elif isinstance(v, list):
                out[name] = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            else:
                out[name] = v

    walk("", value)
    clash = sorted(set(out) & reserved)
    if clash:
        bad(field, f"{', '.join(clash)}: reserved names, not allowed here")
    return out


def _store(service: Any, calls: list[dict[str, Any]], now: float) -> None:
    def work(conn):
        versions = service.cache.active(conn)
        joins = [
            (c["anon"], c["user"])
            for c in calls
            if c["kind"] in ("identify", "alias") and c["anon"] and c["user"]
        ]
        for anon, user in joins:
            ingest.join_visitor(conn, anon, user, now)
        identified = [
            ingest.LeadIn(c["user"], c["traits"])
            for c in calls
            if c["kind"] == "identify" and c["user"]
        ]
        joined_only = [user for _, user in joins if user not in {x.lead_id for x in identified}]
        if joined_only:
            identified += [ingest.LeadIn(u, {}) for u in dict.fromkeys(joined_only)]
        if identified:
            ingest.upsert_leads(conn, versions, identified, now)
        events = [c for c in calls if "event" in c]
        anon_ids = [c["anon"] for c in events if not c["user"]]
        known = ingest.lead_of_visitor(conn, anon_ids) if anon_ids else {}
        for_leads, for_visitors = [], []
        for c in events:
            item = ingest.EventIn(
                c["user"] or known.get(c["anon"], ""), c["event"], c["ts"], c["properties"], c["id"]
            )
            if item.lead_id:
                for_leads.append(item)
            else:
                for_visitors.append((c["anon"], item))
        accepted, duplicates = 0, 0
        if for_leads:
            outcome = ingest.ingest_events(
                conn, versions, for_leads, now, create_unknown_leads=True
            )
            accepted, duplicates = outcome.accepted, len(outcome.duplicates)
        if for_visitors:
            dup = ingest.keep_anonymous(conn, for_visitors, now)
            accepted += len(for_visitors) - len(dup)
            duplicates += len(dup)
        return accepted, duplicates

    accepted, duplicates = service.write(work)
    EVENTS.labels("segment").inc(accepted)
    DUPLICATES.inc(duplicates)
