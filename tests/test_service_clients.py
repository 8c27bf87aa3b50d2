"""Real clients against a real `leadscore serve`: Segment's own Python library, and curl-like
HTTP with a bad key."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
import segment.analytics as segment_analytics

from tests.service_support import EXAMPLE_MODEL, auth, make_keys, server


@pytest.fixture
def running(tmp_path):
    url = f"sqlite:///{tmp_path}/service.db"
    made = make_keys(url)
    with server(url, tmp_path) as s:
        r = httpx.post(
            s.url + "/api/v1/models",
            content=EXAMPLE_MODEL.read_text(),
            headers={**auth(made["admin"]), "content-type": "application/yaml"},
        )
        assert r.status_code == 201, r.text
        r = httpx.post(
            s.url + "/api/v1/models/b2b-saas/versions/1/activate", headers=auth(made["admin"])
        )
        job = r.json()["job"]
        for _ in range(300):
            if (
                httpx.get(f"{s.url}/api/v1/jobs/{job}", headers=auth(made["read"])).json()["state"]
                == "done"
            ):
                break
            time.sleep(0.1)
        yield s, made


def test_segment_library_sends_identify_track_and_page(running):
    s, made = running
    errors = []
    client = segment_analytics.Client(
        made["ingest"],
        host=s.url + "/segment",
        sync_mode=True,
        max_retries=0,
        on_error=lambda e, batch: errors.append(e),
    )
    # A visitor browses anonymously, then signs up: the identify joins the two.
    client.page(anonymous_id="anon-7", name="Pricing", properties={"url": "https://x.io/pricing"})
    client.identify(
        "u-7",
        {
            "title": "VP Sales",
            "industry": "software",
            "employees": 300,
            "country": "US",
            "email_domain": "acme.io",
            "address": {"city": "Berlin"},
        },
        anonymous_id="anon-7",
    )
    client.track("u-7", "demo_request", {"plan": "team"})
    client.track("u-7", "webinar_attended", message_id="m-1")
    client.track("u-7", "webinar_attended", message_id="m-1")  # a retry: counted once
    client.flush()
    assert errors == []
    lead = httpx.get(s.url + "/api/v1/leads/u-7", headers=auth(made["read"])).json()
    assert lead["attributes"]["address.city"] == "Berlin"
    score = lead["scores"]["b2b-saas"]
    rules = {r["rule"]: r["points"] for r in score["reasons"]}
    assert rules["demo request"] == pytest.approx(50, abs=0.01)
    assert rules["webinar"] == pytest.approx(15, abs=0.01)  # m-1 once
    assert rules["pricing page"] == pytest.approx(10, abs=0.01)  # the anonymous page view
    assert score["lifecycle"]["stage"] == "mql"
    history = httpx.get(s.url + "/api/v1/leads/u-7/history", headers=auth(made["read"])).json()
    assert {h["cause"]["kind"] for h in history["data"]} >= {"attributes", "event"}


def test_segment_gzip_and_write_key_in_body(running):
    s, made = running
    body = {
        "writeKey": made["ingest"],
        "batch": [
            {"type": "identify", "userId": "g1", "traits": {"title": "CEO"}},
            {"type": "track", "userId": "g1", "event": "email_open", "messageId": "g-1"},
        ],
    }
    r = httpx.post(
        s.url + "/segment/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert (r.status_code, r.json()) == (200, {"success": True})
    lead = httpx.get(s.url + "/api/v1/leads/g1", headers=auth(made["read"])).json()
    assert lead["attributes"] == {"title": "CEO"}


def test_bad_keys_are_refused(running):
    s, made = running
    client = segment_analytics.Client(
        "lsk_not-a-key",
        host=s.url + "/segment",
        sync_mode=True,
        max_retries=0,
        on_error=lambda e, b: None,
    )
    r = httpx.post(
        s.url + "/segment/v1/track", json={"userId": "x", "event": "e"}, auth=("lsk_not-a-key", "")
    )
    assert r.status_code == 401
    assert (
        httpx.post(s.url + "/segment/v1/track", json={"userId": "x", "event": "e"}).status_code
        == 401
    )
    assert httpx.get(s.url + "/api/v1/leads/x").status_code == 401
    r = httpx.get(s.url + "/api/v1/leads/x", headers=auth("wrong"))
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = httpx.post(s.url + "/segment/v1/batch", content=b"{not json", auth=(made["ingest"], ""))
    assert r.status_code == 400
    client.flush()
    assert httpx.get(s.url + "/api/v1/leads/x", headers=auth(made["read"])).status_code == 404
