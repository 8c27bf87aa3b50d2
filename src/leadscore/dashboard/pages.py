"""The dashboard's pages: sign in, the queue, a lead, the models, the webhooks.

Routes know no SQL: they call the service's operations (leads, models, webhooks) as the
API does, and render templates. Pages need a signed-in key of scope read (see
everything) or admin (also act); forms that change something carry a CSRF token."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from leadscore.dashboard import charts
from leadscore.dashboard.render import HEADERS, page
from leadscore.dashboard.session import COOKIE, MAX_AGE, Sessions, Viewer, csrf_ok
from leadscore.service import feedback, leads, model_health, models, outcomes, webhooks
from leadscore.service.background import job_status
from leadscore.service.errors import Conflict, Invalid, NotFound, ServiceError
from leadscore.service.leads import Filters, encode_cursor
from leadscore.values import normalize_text

router = APIRouter(include_in_schema=False)
STATIC = resources.files("leadscore") / "dashboard" / "static"
PAGE = 50
MAX_REPORT_BYTES = 60 * 1024 * 1024  # a review report inlines plotly.js and its data
UPLOAD_HINT = "upload the .html that `leadscore review -o` wrote."
REPORT_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:"
)
GRADES = ("A", "B", "C", "D", "F")
STAGES = ("open", "mql", "recycled")


class PageError(Exception):
    """A page that cannot be shown: rendered as an error page in the dashboard's look."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Ctx:
    request: Request
    viewer: Viewer

    @property
    def service(self):
        return self.request.app.state.service


def _sessions(request: Request) -> Sessions:
    app = request.app
    if not hasattr(app.state, "sessions"):
        app.state.sessions = Sessions(app.state.service.db)
    return app.state.sessions


def signed_in(request: Request) -> Viewer | None:
    with request.app.state.service.db.read() as conn:
        return _sessions(request).viewer(conn, request.cookies.get(COOKIE))


def _ctx(request: Request, *, admin: bool = False, csrf: str | None = None) -> Ctx:
    viewer = signed_in(request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise _SignIn(target)
    if request.method == "POST" and not csrf_ok(viewer, csrf):
        raise PageError(403, "This form has expired or did not come from this page. Reload it.")
    if admin and not viewer.admin:
        raise PageError(
            403, f"The key “{viewer.name}” may read but not change: sign in with an admin key."
        )
    return Ctx(request, viewer)


class _SignIn(Exception):
    def __init__(self, target: str):
        self.target = target


def _base(ctx: Ctx, **values: Any) -> dict[str, Any]:
    return {"viewer": ctx.viewer, **values}


# -- static files and sign-in ----------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name == "plotly.min.js":  # the copy in the plotly package: nothing from another host
        path = resources.files("plotly") / "package_data" / "plotly.min.js"
    else:
        path = STATIC / name
        if "/" in name or not path.is_file():
            raise PageError(404, "There is no such file.")
    kind = "text/javascript" if name.endswith(".js") else "text/css"
    return FileResponse(str(path), media_type=kind, headers={"Cache-Control": "max-age=3600"})


@router.get("/login")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return page("login.html", viewer=None, next=_safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request, key: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
) -> Response:
    with request.app.state.service.db.read() as conn:
        made = _sessions(request).sign_in(conn, key) if key.strip() else None
    if made is None:
        error = (
            "Enter a key."
            if not key.strip()
            else "That key is not known, was revoked, or may only send data."
        )
        return page("login.html", status=401, viewer=None, next=_safe_next(next), error=error)
    value, _ = made
    response = RedirectResponse(_safe_next(next), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, value, max_age=MAX_AGE, httponly=True, samesite="lax", secure=secure, path="/"
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str | None, Form()] = None) -> Response:
    _ctx(request, csrf=csrf)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only a path of this site (no open redirect to another host)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# -- the queue -------------------------------------------------------------------------


@router.get("/")
def queue(
    request: Request,
    model: str | None = None,
    grade: str | None = None,
    label: str | None = None,
    stage: str | None = None,
    account: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    ctx = _ctx(request)
    values = {
        k: (v or None)
        for k, v in dict(
            model=model, grade=grade, label=label, stage=stage, account=account, q=q
        ).items()
    }
    if values["stage"] not in (None, *STAGES):
        raise PageError(404, f"There is no stage “{stage}”.")
    with ctx.service.db.read() as conn:
        versions = ctx.service.cache.active(conn)
        if not versions:
            return page(
                "queue.html",
                **_base(
                    ctx,
                    versions=[],
                    version=None,
                    rows=[],
                    filters=values,
                    labels=[],
                    grades=GRADES,
                    stages=STAGES,
                    next_url=None,
                    prev_url=None,
                ),
            )
        try:
            version = leads.one_model(versions, values["model"]) if values["model"] else versions[0]
        except NotFound as exc:
            raise PageError(404, str(exc)) from None
        filters = Filters(
            values["grade"],
            values["label"],
            values["stage"],
            None if values["account"] is None else normalize_text(values["account"]),
            values["q"],
        )
        try:
            if before:  # the page before: read backwards from its first row, then turn round
                back = leads.list_leads(
                    conn, version, filters, descending=False, limit=PAGE, cursor=before
                )
                rows = list(reversed(back.rows))
                has_prev = back.next_cursor is not None
                has_next = True
            else:
                found = leads.list_leads(conn, version, filters, limit=PAGE, cursor=cursor)
                rows = found.rows
                has_prev = cursor is not None
                has_next = found.next_cursor is not None
        except Invalid as exc:
            raise PageError(400, exc.detail) from None
    shown = {k: v for k, v in values.items() if v is not None}
    shown["model"] = version.name
    next_url = prev_url = None
    if rows and has_next:
        next_url = "/?" + urlencode(
            {**shown, "cursor": encode_cursor(rows[-1]["score"], rows[-1]["lead_id"])}
        )
    if rows and has_prev:
        prev_url = "/?" + urlencode(
            {**shown, "before": encode_cursor(rows[0]["score"], rows[0]["lead_id"])}
        )
    labels = list(version.model.thresholds.labels or {}) if version.model.thresholds else []
    return page(
        "queue.html",
        **_base(
            ctx,
            versions=versions,
            version=version,
            rows=[_queue_row(r) for r in rows],
            filters=values,
            labels=labels,
            grades=GRADES,
            stages=STAGES,
            next_url=next_url,
            prev_url=prev_url,
        ),
    )


def _queue_row(row: dict[str, Any]) -> dict[str, Any]:
    import json

    attributes = row.get("attributes") or {}
    who = [
        str(attributes[k])
        for k in ("name", "full_name", "email", "company", "title")
        if attributes.get(k)
    ]
    where = [
        str(attributes[k])
        for k in ("company", "email_domain", "industry")
        if attributes.get(k) and str(attributes[k]) not in who
    ]
    return {
        **row,
        "who": " · ".join(who[:2]),
        "where": " · ".join(where[:2]),
        "top": json.loads(row["reasons"] or "[]")[:3],
    }


# -- a lead ----------------------------------------------------------------------------


@router.get("/leads/{lead_id:path}")
def lead(request: Request, lead_id: str, model: str | None = None) -> HTMLResponse:
    ctx = _ctx(request)
    now = time.time()
    with ctx.service.db.read() as conn:
        versions = ctx.service.cache.active(conn)
        try:
            chosen = leads.pick_versions(versions, model)
            found = leads.lead_now(conn, chosen, lead_id, now)
            ledger, _ = leads.history(conn, lead_id, None, limit=2000)
        except NotFound as exc:
            raise PageError(404, str(exc)) from None
        events = leads.lead_events(conn, lead_id)
        verdicts = feedback.of_lead(conn, lead_id)
        reasons = feedback.reasons(conn)
        deals = outcomes.of_lead(conn, lead_id)
    scores = []
    for name, (v, score, stored) in found.scores.items():
        entries = [e for e in ledger if e["model"] == name]
        scores.append(
            {
                "model": name,
                "version": v.version,
                "score": score,
                "stage": (stored or {}).get("stage", "open"),
                "mql_since": (stored or {}).get("mql_since"),
                "reasons_chart": charts.reasons(score),
                "history_chart": charts.score_over_time(entries, now, score.score),
                "stages": [
                    e
                    for i, e in enumerate(entries)
                    if i == 0 or e["stage"] != entries[i - 1]["stage"]
                ],
            }
        )
    return page(
        "lead.html",
        **_base(
            ctx,
            lead=found.state,
            scores=scores,
            events=events,
            events_chart=charts.timeline(events),
            as_of=now,
            verdicts=verdicts,
            reasons=reasons,
            outcomes=deals,
            said=request.query_params.get("said"),
        ),
    )


@router.post("/leads/{lead_id:path}/feedback")
def give_feedback(
    request: Request,
    lead_id: str,
    model: Annotated[str, Form()],
    verdict: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """A rep's verdict from the lead page (read keys may give it)."""
    ctx = _ctx(request, csrf=csrf)
    if verdict not in feedback.VERDICTS:
        raise PageError(400, "Choose Accept or Reject.")

    def work(conn):
        return feedback.give(
            conn,
            ctx.service.cache.active(conn),
            lead_id,
            verdict=verdict,
            reason=reason or None,
            note=note or None,
            model=model,
            author=ctx.viewer.name,
            now=time.time(),
        )

    try:
        ctx.service.write(work)
    except NotFound as exc:
        raise PageError(404, str(exc)) from None
    except Invalid as exc:
        raise PageError(400, "; ".join(p.reason for p in exc.problems) or exc.detail) from None
    return RedirectResponse(f"/leads/{_quote(lead_id)}?said={verdict}#feedback", status_code=303)


@router.post("/leads/{lead_id:path}/recycle")
def recycle(
    request: Request,
    lead_id: str,
    model: Annotated[str, Form()],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = _ctx(request, admin=True, csrf=csrf)

    def work(conn):
        return leads.recycle(conn, ctx.service.cache.active(conn), lead_id, model, time.time())

    try:
        ctx.service.write(work)
    except NotFound as exc:
        raise PageError(404, str(exc)) from None
    return RedirectResponse(f"/leads/{_quote(lead_id)}?recycled={_quote(model)}", status_code=303)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


# -- models ----------------------------------------------------------------------------


@router.get("/models")
def models_page(request: Request, job: str | None = None) -> HTMLResponse:
    ctx = _ctx(request)
    with ctx.service.db.read() as conn:
        infos = models.list_versions(conn)
        reviews = models.latest_reviews(conn)
        yamls = {(i.name, i.version): models.version_yaml(conn, i.name, i.version) for i in infos}
        running = job_status(conn, job) if job else None
        margin = ctx.service.settings.review_margin
        health = {
            name: model_health.health(conn, name, time.time(), margin)
            for name in {i.name for i in infos if i.active}
        }
        alerts = model_health.alerts(conn)
    by_name: dict[str, list] = {}
    for i in infos:
        by_name.setdefault(i.name, []).append(
            {
                "info": i,
                "yaml": yamls[(i.name, i.version)],
                "review": reviews.get((i.name, i.version)),
                "alerts": alerts.get((i.name, i.version), []),
            }
        )
    for versions in by_name.values():
        active = next((i for i, v in enumerate(versions) if v["info"].active), None)
        for i, v in enumerate(versions):  # an older one than the active: a rollback
            v["action"] = "Roll back to" if active is not None and i < active else "Activate"
        versions.reverse()  # newest first
    return page("models.html", **_base(ctx, models=by_name, job=running, health=health))


@router.post("/models/{name}/versions/{version}/activate")
def activate(
    request: Request, name: str, version: str, csrf: Annotated[str | None, Form()] = None
) -> Response:
    ctx = _ctx(request, admin=True, csrf=csrf)
    try:
        job = ctx.service.write(lambda conn: models.request_activation(conn, name, version))
    except (NotFound, Conflict) as exc:
        raise PageError(404 if isinstance(exc, NotFound) else 409, str(exc)) from None
    return RedirectResponse(f"/models?job={job}#{_quote(name)}", status_code=303)


@router.get("/jobs/{job_id}.json")
def job(request: Request, job_id: str) -> JSONResponse:
    """A job's progress for the models page (the session's own API)."""
    _ctx(request)
    with request.app.state.service.db.read() as conn:
        row = job_status(conn, job_id)
    if row is None:
        return JSONResponse({"error": "no such job"}, status_code=404)
    keep = ("id", "model", "version", "state", "done", "total", "error")
    return JSONResponse({k: row[k] for k in keep}, headers={"Cache-Control": "no-store"})


@router.post("/models/{name}/versions/{version}/review")
async def upload_review(
    request: Request,
    name: str,
    version: str,
    report: UploadFile,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = _ctx(request, admin=True, csrf=csrf)
    raw = await report.read(MAX_REPORT_BYTES + 1)
    if len(raw) > MAX_REPORT_BYTES:
        raise PageError(413, f"The report is over {MAX_REPORT_BYTES // 2**20} MB.")
    try:
        html = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PageError(
            400,
            f"{report.filename}: not a text file; {UPLOAD_HINT}",
        ) from None
    if "<html" not in html[:2000].lower():
        raise PageError(
            400,
            f"{report.filename}: not an HTML report; {UPLOAD_HINT}",
        )
    try:
        ctx.service.write(
            lambda conn: models.add_review(conn, name, version, html, ctx.viewer.name, time.time())
        )
    except NotFound as exc:
        raise PageError(404, str(exc)) from None
    return RedirectResponse(f"/models#{_quote(name)}-{_quote(version)}", status_code=303)


@router.post("/models/{name}/versions/{version}/review-now")
def review_now(
    request: Request, name: str, version: str, csrf: Annotated[str | None, Form()] = None
) -> Response:
    """Review the version on the service's own leads, verdicts and outcomes (what
    `leadscore review NAME:VERSION --db URL` does), kept as its latest report."""
    from leadscore.errors import UsageError
    from leadscore.review.report import render_html
    from leadscore.service.review_db import ServiceReview, review_service

    ctx = _ctx(request, admin=True, csrf=csrf)
    try:
        result = review_service(ctx.service.db, ServiceReview(f"{name}:{version}"))
    except UsageError as exc:
        raise PageError(409, str(exc)) from None
    html = render_html(result)
    by = f"review on the service's data ({ctx.viewer.name})"
    ctx.service.write(lambda conn: models.add_review(conn, name, version, html, by, time.time()))
    return RedirectResponse(f"/models#{_quote(name)}-{_quote(version)}", status_code=303)


@router.get("/models/{name}/versions/{version}/review")
def review(request: Request, name: str, version: str) -> Response:
    """The uploaded report, in a sandbox: its scripts run, but as no origin, so an
    uploaded page can neither read the session nor act as the one who views it."""
    ctx = _ctx(request)
    with ctx.service.db.read() as conn:
        try:
            html = models.review_html(conn, name, version)
        except NotFound as exc:
            raise PageError(404, str(exc)) from None
    headers = {
        "Content-Security-Policy": REPORT_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(html, headers=headers)


# -- webhooks --------------------------------------------------------------------------


@router.get("/webhooks")
def webhooks_page(request: Request) -> HTMLResponse:
    ctx = _ctx(request)
    with ctx.service.db.read() as conn:
        hooks = webhooks.list_webhooks(conn)
        recent = {h["id"]: webhooks.messages(conn, h["id"], limit=20)[0] for h in hooks}
    return page("webhooks.html", **_base(ctx, hooks=hooks, recent=recent))


@router.post("/webhooks/{webhook_id}/messages/{message_id}/redeliver")
def redeliver(
    request: Request, webhook_id: str, message_id: str, csrf: Annotated[str | None, Form()] = None
) -> Response:
    ctx = _ctx(request, admin=True, csrf=csrf)
    try:
        ctx.service.write(lambda conn: webhooks.redeliver(conn, webhook_id, message_id))
    except ServiceError as exc:
        raise PageError(409 if isinstance(exc, Conflict) else 404, exc.detail) from None
    return RedirectResponse(
        f"/webhooks?redelivered={_quote(message_id)}#{_quote(webhook_id)}", status_code=303
    )


# -- errors ----------------------------------------------------------------------------

TITLES = {
    400: "Not a request this page understands",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Not now",
    413: "Too large",
    500: "Something went wrong",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    viewer = None
    try:
        viewer = signed_in(request)
    except Exception:  # the database away: the error page still shows
        viewer = None
    return page(
        "error.html",
        status=status,
        viewer=viewer,
        status_code=status,
        title=TITLES.get(status, "Error"),
        message=message,
    )


def wants_html(request: Request) -> bool:
    """A request of the dashboard's, not of the API's: errors answer as pages."""
    path = request.url.path
    api = path.startswith(("/api/", "/segment/", "/metrics", "/healthz", "/openapi.json", "/docs"))
    return not api


def install(app) -> None:
    from leadscore.service.api import problems

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        return error_page(request, exc.status, exc.message)

    @app.exception_handler(_SignIn)
    async def _sign_in(request: Request, exc: _SignIn) -> Response:
        if request.method != "GET":
            return error_page(request, 401, "Your session has ended: sign in again.")
        return RedirectResponse(
            "/login?" + urlencode({"next": exc.target}), status_code=303, headers=HEADERS
        )

    problems.HTML_ERRORS = (wants_html, error_page)
