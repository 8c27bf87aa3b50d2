"""RFC 9457 problem details for every error the API answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadscore.service.errors import Conflict, Invalid, NotFound, ServiceError, TooLarge

log = logging.getLogger("leadscore.service")
PROBLEM = "application/problem+json"
STATUS = {Invalid: 422, NotFound: 404, Conflict: 409, TooLarge: 413}
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    503: "Unavailable",
}


def problem(
    status: int,
    detail: str,
    problems: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    title: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if problems is not None:
        body["problems"] = problems
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def item_problems(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as {index, field, reason}: the item's position in its list and the
    field's path within the item (`properties.url`)."""
    out = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p != "body"]
        index = None
        if len(loc) >= 2 and isinstance(loc[1], int):
            index, path = loc[1], loc[2:]
        else:
            path = loc
        # A union's error names the branch it tried (str, int...): not a field.
        path = [p for p in path if not (isinstance(p, str) and _branch(p))]
        field = ".".join(str(p) for p in path if not isinstance(p, int)) or "(body)"
        reason = err.get("msg", "invalid")
        if err.get("type") == "missing":
            reason = "required, but missing"
        elif err.get("type") == "extra_forbidden":
            reason = "not a field of this item"
        out.append({"index": index, "field": field, "reason": reason})
    return out


def _branch(part: str) -> bool:
    return part in {"str", "int", "float", "bool", "none"} or part.startswith("function-")


# (is this a page's request?, render an error page): set by the dashboard, so that a
# browser gets a page in the dashboard's look and the API keeps its problem details.
HTML_ERRORS: tuple[Callable[[Request], bool], Callable[[Request, int, str], Response]] | None = None


def _as_page(request: Request, status: int, detail: str) -> Response | None:
    if HTML_ERRORS is not None and HTML_ERRORS[0](request):
        return HTML_ERRORS[1](request, status, detail)
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_req: Request, exc: ServiceError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        problems = [p.as_dict() for p in exc.problems] if isinstance(exc, Invalid) else None
        return problem(status, exc.detail, problems)

    @app.exception_handler(RequestValidationError)
    async def _invalid(req: Request, exc: RequestValidationError) -> Response:
        # Query and path parameters; bodies are read by api.body, item by item.
        errors = list(exc.errors())
        shown = _as_page(
            req, 400, "; ".join(f"{p['field']}: {p['reason']}" for p in item_problems(errors))
        )
        if shown is not None:
            return shown
        return problem(
            422,
            f"{len(errors)} problem(s) in the request; nothing was stored",
            item_problems(errors),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no page at this address."
        shown = _as_page(req, exc.status_code, detail)
        if shown is not None:
            return shown
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> Response:
        log.exception("unexpected error", extra={"path": req.url.path})
        shown = _as_page(req, 500, "The service failed to show this page; the error is in its log.")
        if shown is not None:
            return shown
        return problem(500, "the service failed to answer; the error is in its log")
