"""Templates, the page's security headers, and values as people read them."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

_FOLDER = resources.files("leadscore") / "dashboard" / "templates"
ENV = Environment(
    loader=FileSystemLoader(str(_FOLDER)),
    autoescape=select_autoescape(["html"]),  # every value escaped, whatever it holds
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Scripts and styles from this service only; Plotly sets style attributes, hence the
# inline styles. Chart data travel as JSON blocks, which are not run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def json_block(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no `</script>` can close it."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


ENV.filters.update(when=when, number=number, percent=percent, json_block=json_block)
