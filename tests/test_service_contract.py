"""The service's contract from the outside: every route's keys, every kind of bad input,
values that look like SQL or HTML, and schemathesis against /openapi.json (no 5xx)."""

from __future__ import annotations

import json
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select

from leadscore.service.api.app import create_app
from leadscore.service.core import prepare_database
from leadscore.service.settings import Settings
from leadscore.service.store.tables import Event, Lead
from tests.service_support import EXAMPLE_MODEL, api, auth, make_keys

LOWER = {"admin": ("read", "ingest"), "read": ("ingest",), "ingest": ("read",)}


@pytest.fixture
def service(tmp_path):
    with api(f"sqlite:///{tmp_path}/service.db") as s:
        s.add_model(EXAMPLE_MODEL.read_text())
        s.post("/api/v1/leads", "ingest", json={"leads": [{"lead_id": "L1", "attributes": {}}]})
        yield s


def routes(service) -> list[tuple[str, str, str]]:
    spec = service.client.get("/openapi.json").json()
    out = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if "x-scope" in op:
                out.append((method.upper(), path, op["x-scope"]))
    return out


def test_every_route_needs_a_key_of_its_scope(service):
    found = routes(service)
    assert len(found) >= 20  # every route but /healthz is in the list
    assert ("GET", "/healthz") not in {(m, p) for m, p, _ in found}
    for method, path, scope in found:
        url = path.replace("{lead_id}", "L1").replace("{name}", "b2b-saas")
        url = url.replace("{version}", "1").replace("{key}", "acme.io").replace("{job_id}", "j")
        r = service.client.request(method, url)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["content-type"] == "application/problem+json"
        r = service.client.request(method, url, headers=auth("lsk_revoked-or-never-made"))
        assert r.status_code == 401, (method, path)
        for lower in LOWER[scope]:
            r = service.client.request(method, url, headers=service.as_(lower))
            assert r.status_code == 403, (method, path, lower, r.status_code)
            assert scope in r.json()["detail"]
    assert service.client.get("/healthz").status_code == 200


def test_sql_and_html_are_stored_and_returned_as_text(service):
    nasty = 'x\'); DROP TABLE leads; -- <script>alert(1)</script> "é"'
    attrs = {
        "title": "<img src=x onerror=alert(1)>",
        "note": "' OR 1=1 --",
        nasty: nasty,
        "discount": "100%",
    }
    r = service.post(
        "/api/v1/leads", "ingest", json={"leads": [{"lead_id": nasty, "attributes": attrs}]}
    )
    assert r.status_code == 200, r.text
    r = service.post(
        "/api/v1/events",
        "ingest",
        json={
            "events": [
                {
                    "lead_id": nasty,
                    "event": "page_view'; --",
                    "timestamp": time.time(),
                    "properties": {"url": "/pricing<script>", "q": "%' AND 1=1"},
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    lead = service.get("/api/v1/leads/" + _quote(nasty)).json()
    assert lead["lead_id"] == nasty and lead["attributes"] == attrs
    found = service.get("/api/v1/leads", params={"q": "' OR 1=1"}).json()["data"]
    assert [x["lead_id"] for x in found] == [nasty]
    assert len(service.get("/api/v1/leads", params={"q": "0%"}).json()["data"]) == 1
    assert service.get("/api/v1/leads", params={"q": "1%0"}).json()["data"] == []  # % is literal
    with service.client.app.state.service.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Lead)).scalar_one() == 2


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _nothing_stored(service) -> None:
    with service.client.app.state.service.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == 0


GOOD = {
    "event_id": "ok",
    "lead_id": "L1",
    "event": "email_open",
    "timestamp": "2026-11-30T10:00:00Z",
}


@pytest.mark.parametrize(
    ("body", "status", "problems"),
    [
        ({"events": [GOOD, {"lead_id": "L1", "timestamp": 1.7e9}]}, 422, {(1, "event")}),
        (
            {"events": [{**GOOD, "timestamp": "30/11/2026"}, {**GOOD, "timestamp": None}]},
            422,
            {(0, "timestamp"), (1, "timestamp")},
        ),
        ({"events": [GOOD, {**GOOD, "event_id": "x", "lead_id": "ghost"}]}, 422, {(1, "lead_id")}),
        (
            {"events": [{**GOOD, "lead_id": 5, "properties": "url"}]},
            422,
            {(0, "lead_id"), (0, "properties")},
        ),
        (
            {"events": [{**GOOD, "properties": {"nested": {"a": 1}}}]},
            422,
            {(0, "properties.nested")},
        ),
        ({"events": [{**GOOD, "colour": "red"}]}, 422, {(0, "colour")}),
        ({"events": [GOOD] * 1001}, 413, None),
        ({"events": []}, 422, {(None, "events")}),
        ({"event": [GOOD]}, 422, {(None, "event"), (None, "events")}),
        ([GOOD], 422, {(None, "(body)")}),
    ],
)
def test_bad_events_get_every_problem_and_store_nothing(service, body, status, problems):
    r = service.post("/api/v1/events", "ingest", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    answer = r.json()
    assert answer["status"] == status and answer["title"] and answer["detail"]
    if problems is not None:
        assert {(p["index"], p["field"]) for p in answer["problems"]} == problems, answer
        assert all(p["reason"] for p in answer["problems"])
    _nothing_stored(service)


def test_malformed_and_oversized_bodies(service):
    h = {**service.as_("ingest"), "content-type": "application/json"}
    r = service.client.post("/api/v1/events", content=b'{"events": [', headers=h)
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]
    big = json.dumps({"events": [{**GOOD, "properties": {"blob": "x" * 6_000_000}}]})
    r = service.client.post("/api/v1/events", content=big, headers=h)
    assert r.status_code == 413 and "5 MB" in r.json()["detail"]
    r = service.client.post("/api/v1/leads", content=b"\xff\xfe", headers=h)
    assert r.status_code == 422
    bad_lead = {"leads": [{"lead_id": "", "attributes": {"lead_id": "x"}}, {"attributes": {}}]}
    r = service.post("/api/v1/leads", "ingest", json=bad_lead)
    assert {(p["index"], p["field"]) for p in r.json()["problems"]} == {
        (0, "lead_id"),
        (0, "attributes"),
        (1, "lead_id"),
    }
    _nothing_stored(service)


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/service.db"
    made = make_keys(url)
    prepare_database(Settings(db=url), [EXAMPLE_MODEL]).close()  # a model scores what is sent
    app = create_app(Settings(db=url, sweep_seconds=0), background=False)
    return app, made


schema = schemathesis.pytest.from_fixture("fuzzed_schema")


@pytest.fixture(scope="module")
def fuzzed_schema(fuzzed_app):
    app, _ = fuzzed_app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("LEADSCORE_FUZZ_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_route_answers_5xx(case, fuzzed_app):
    _, made = fuzzed_app
    response = case.call(headers=auth(made["admin"]))
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
