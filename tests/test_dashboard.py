"""The dashboard in Debian's headless Chromium (Playwright, `executable_path`), against a
real `leadscore serve` on 127.0.0.1 with a real webhook receiver: signing in, the queue's
filters and pages, a lead's reasons and events, activation, recycle, redelivery, what a
read key may not do, hostile values shown as text, and every page clean (no console
error, no failed request, nothing from another host). Screenshots go to docs/."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.service_support import EXAMPLE_MODEL, ROOT, auth, make_keys, server
from tests.webhook_receiver import Receiver

DOCS = ROOT / "docs"
HOSTILE = {"title": "<script>alert(1)</script>", "company": '"><img src=x onerror=alert(1)>'}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TITLES = ["VP Sales", "Head of Growth", "Marketing Manager", "Analyst", "CTO", "Student"]
INDUSTRIES = ["software", "fintech", "media", "retail"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A service with 150 leads of every grade and stage, two versions of the model (the
    first active), a webhook to a receiver that got the MQLs, and a hostile lead."""
    tmp = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{tmp}/service.db"
    made = make_keys(url)
    rx = Receiver().start()
    with server(url, tmp, LEADSCORE_WEBHOOK_POLL_SECONDS="0.1") as s:
        h = auth(made["admin"])
        for text in (EXAMPLE_MODEL.read_text(),
                     EXAMPLE_MODEL.read_text().replace("version: 1", "version: 2")
                     .replace("mql: {score: 80", "mql: {score: 60")):  # fmt: skip
            r = httpx.post(s.url + "/api/v1/models", content=text,
                           headers={**h, "content-type": "application/yaml"})  # fmt: skip
            assert r.status_code == 201, r.text
        job = httpx.post(s.url + "/api/v1/models/b2b-saas/versions/1/activate", headers=h)
        _wait_job(s.url, h, job.json()["job"])
        r = httpx.post(s.url + "/api/v1/webhooks", headers=h,
                       json={"url": rx.url, "events": ["lead.mql"]})  # fmt: skip
        hook = r.json()
        leads = [
            {"lead_id": f"L{i:03d}", "attributes": {
                "title": TITLES[i % len(TITLES)], "industry": INDUSTRIES[i % 4],
                "employees": [500, 50, 10, 8000][i % 4], "country": "US",
                "email_domain": f"company{i % 9}.com", "name": f"Person {i}"}}
            for i in range(150)
        ]  # fmt: skip
        leads.append({"lead_id": "HOSTILE", "attributes": {**HOSTILE, "employees": 500}})
        assert (
            httpx.post(s.url + "/api/v1/leads", json={"leads": leads}, headers=h).status_code == 200
        )
        now = time.time()
        events = []
        for i in range(150):
            for k in range(i % 7):
                kind = ["page_view", "email_open", "email_click"][k % 3]
                events.append({"lead_id": f"L{i:03d}", "event": kind,
                               "timestamp": now - 86400 * (k + 1),
                               "properties": {"url": "/pricing"}})  # fmt: skip
            if i % 3 == 0:
                events.append(
                    {"lead_id": f"L{i:03d}", "event": "demo_request", "timestamp": now - 3600}
                )
        events.append({"lead_id": "HOSTILE", "event": "page_view", "timestamp": now,
                       "properties": {"url": "<script>alert(2)</script>"}})  # fmt: skip
        r = httpx.post(s.url + "/api/v1/events", json={"events": events}, headers=h, timeout=60)
        assert r.status_code == 200, r.text
        rx.wait(lambda x: len(x.received) > 10)
        yield {"url": s.url, "keys": made, "receiver": rx, "hook": hook, "admin": h}
    rx.stop()


def _wait_job(url: str, h: dict, job: str) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/api/v1/jobs/{job}", headers=h).json()["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: make test installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)
        yield b
        b.close()


class Watched:
    """A page whose console errors, failed requests, other hosts and dialogs are kept."""

    def __init__(self, browser, base: str, width: int = 1400):
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        host = urlsplit(base).netloc
        p = self.page
        p.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        p.on("pageerror", lambda e: self.problems.append(str(e)))
        p.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        p.on("request", lambda r: urlsplit(r.url).netloc not in (host, "")
             and not r.url.startswith("data:")
             and self.problems.append(f"other host: {r.url}"))  # fmt: skip
        p.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))
        p.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def sign_in(self, key: str, target: str = "/") -> None:
        self.page.goto(self.base + target)
        assert "/login" in self.page.url
        self.page.fill("#key", key)
        self.page.click("form[action='/login'] button")
        self.page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()


def _rows(page) -> list[dict]:
    return page.eval_on_selector_all(
        "table.queue tbody tr",
        """rows => rows.map(r => ({
            id: r.querySelector('td a').textContent.trim(),
            grade: r.children[2].textContent.trim(),
            stage: r.children[4].textContent.trim(),
            score: parseFloat(r.children[1].textContent.replace(/,/g, '')),
        }))""",
    )


def test_read_key_filters_pages_and_opens_a_lead(site, browser):
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["read"])
    assert page.locator("table.queue tbody tr").count() == 50
    page.select_option("#f-grade", "A")  # applies on change
    page.wait_for_url(re.compile(r"grade=A"))
    page.select_option("#f-stage", "open")
    page.wait_for_url(re.compile(r"stage=open"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["grade"] == ["A"] and query["stage"] == ["open"]
    first = _rows(page)
    assert first and all(r["grade"] == "A" and r["stage"] == "open" for r in first)
    assert [r["score"] for r in first] == sorted((r["score"] for r in first), reverse=True)
    # All grades again, to have pages: forward, back with the link, back with the browser.
    page.select_option("#f-grade", "")
    page.wait_for_url(lambda u: "grade=A" not in u)
    one = _rows(page)
    page.click("a[rel=next]")
    two = _rows(page)
    assert {r["id"] for r in one}.isdisjoint({r["id"] for r in two})
    assert two[0]["score"] <= one[-1]["score"]
    page.click("a[rel=prev]")
    assert _rows(page) == one
    page.go_back()
    assert _rows(page) == two
    # A lead: its reasons as bars that add up to the score shown, its events on a timeline.
    lead_id = one[0]["id"]
    page.goto(f"{site['url']}/leads/{lead_id}")
    page.wait_for_selector(".chart[data-chart=reasons] .main-svg")
    shown = float(page.get_attribute("[data-score]", "data-score"))
    points = [
        float(x)
        for x in page.eval_on_selector_all("[data-points]", "xs => xs.map(x => x.dataset.points)")
    ]
    assert points and abs(sum(points) - shown) <= 0.05 * len(points) + 0.05
    bars = page.locator(".chart[data-chart=reasons] .bars path").count()
    assert bars == len(points)
    page.wait_for_selector(".chart[data-chart=timeline] .main-svg")
    events = page.locator("table.events tr").count() - 1  # the head row
    assert events > 0
    marks = page.locator(".chart[data-chart=timeline] .point").count()
    assert marks >= min(events, 15)
    assert page.locator(".chart[data-chart=history] .main-svg").count() >= 1
    assert w.problems == [] and w.dialogs == []
    w.close()


def tmp_report() -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    path = folder / "report.html"
    path.write_text(
        "<!doctype html><html><body><h1>Review</h1><p id=ran>not run</p><script>"
        "let c; try { c = document.cookie || 'none'; } catch (e) { c = 'none'; }"
        "document.getElementById('ran').textContent = 'script ran; cookie: ' + c;"
        "</script></body></html>"
    )
    return path


def test_admin_activates_recycles_and_redelivers(site, browser):
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["admin"], "/models")
    page.click("button:has-text('Activate version 2')")
    page.wait_for_selector("[data-job][data-state=done]", timeout=60_000)
    assert "is active" in page.text_content(".job-state")
    versions = httpx.get(site["url"] + "/api/v1/models", headers=site["admin"]).json()["data"]
    assert versions[0]["active_version"] == "2"
    page.goto(site["url"] + "/models")
    page.click("button:has-text('Roll back to version 1')")  # and back, for the other tests
    page.wait_for_selector("[data-job][data-state=done]", timeout=60_000)
    # A review report, uploaded for version 1 and shown in the page, in its sandbox: its
    # script runs, but as no origin (it cannot read the dashboard's cookie).
    report = tmp_report()
    page.goto(site["url"] + "/models")
    page.set_input_files("#r-b2b-saas-1", str(report))
    page.click("form.upload:has(#r-b2b-saas-1) button")
    page.wait_for_load_state()
    frame = page.frame_locator("iframe.review")
    assert frame.locator("#ran").text_content(timeout=10_000) == "script ran; cookie: none"
    # Recycle an MQL.
    page.goto(site["url"] + "/?stage=mql")
    lead_id = _rows(page)[0]["id"]
    page.click("table.queue tbody tr:first-child td a")
    page.wait_for_selector(".chart .main-svg")  # loaded, plotly.js included
    page.click("button:has-text('Recycle')")
    page.wait_for_load_state()
    assert page.text_content(".score-card .stage") == "recycled"
    stored = httpx.get(f"{site['url']}/api/v1/leads/{lead_id}", headers=site["admin"]).json()
    assert stored["scores"]["b2b-saas"]["lifecycle"]["stage"] == "recycled"
    # Redeliver a message: the receiver gets it again, with the same id.
    rx = site["receiver"]
    page.goto(site["url"] + "/webhooks")
    message = page.get_attribute("tr[data-message]", "data-message")
    before = sum(1 for r in rx.received if r.id == message)
    page.click(f"tr[data-message='{message}'] button:has-text('Redeliver')")
    rx.wait(lambda x: sum(1 for r in x.received if r.id == message) == before + 1)
    assert w.problems == []
    w.close()


def test_a_read_key_cannot_act(site, browser):
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["read"], "/models")
    assert page.locator("button:has-text('Activate')").count() == 0
    assert page.locator("input[type=file]").count() == 0
    csrf = page.get_attribute("input[name=csrf]", "value")  # the sign-out form's: a real token
    page.goto(site["url"] + "/?stage=mql")
    page.click("table.queue tbody tr:first-child td a")
    page.wait_for_selector(".chart .main-svg")
    assert page.locator("button:has-text('Recycle')").count() == 0
    lead_path = urlsplit(page.url).path
    page.goto(site["url"] + "/webhooks")
    assert page.locator("button:has-text('Redeliver')").count() == 0
    message = page.get_attribute("tr[data-message]", "data-message")
    hook = site["hook"]["id"]
    for path, form in [
        ("/models/b2b-saas/versions/2/activate", {}),
        (f"{lead_path}/recycle", {"model": "b2b-saas"}),
        (f"/webhooks/{hook}/messages/{message}/redeliver", {}),
    ]:
        r = page.request.post(site["url"] + path, form={**form, "csrf": csrf}, max_redirects=0)
        assert r.status == 403, (path, r.status)
        assert "admin" in r.text()
    # And an admin's form without its token is refused too.
    w.close()
    a = Watched(browser, site["url"])
    a.sign_in(site["keys"]["admin"])
    r = a.page.request.post(
        site["url"] + f"/webhooks/{hook}/messages/{message}/redeliver", form={}, max_redirects=0
    )
    assert r.status == 403 and "expired" in r.text()
    a.close()


def test_hostile_values_are_shown_as_text(site, browser):
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["read"], "/leads/HOSTILE")
    page.wait_for_selector(".chart[data-chart=timeline] .main-svg")
    body = page.inner_text("main")
    assert HOSTILE["title"] in body and HOSTILE["company"] in body
    assert "<script>alert(2)</script>" in body
    assert page.locator("main img").count() == 0
    page.goto(site["url"] + "/?q=script")
    assert HOSTILE["title"] in page.inner_text("table.queue")
    page.wait_for_timeout(300)
    assert w.dialogs == [] and w.problems == []
    w.close()


def test_sessions_end_with_sign_out_a_bad_cookie_or_a_revoked_key(site, browser):
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["read"])
    cookie = next(c for c in w.context.cookies() if c["name"] == "leadscore_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > time.time()
    page.click("text=Sign out")
    page.wait_for_url(re.compile("/login"))
    page.goto(site["url"] + "/models")
    assert "/login" in page.url and "next=%2Fmodels" in page.url
    w.context.add_cookies([{**cookie, "value": cookie["value"][:-2] + "xx"}])
    page.goto(site["url"] + "/")
    assert "/login" in page.url
    page.fill("#key", "lsk_not-a-key")
    page.click("form[action='/login'] button")
    assert "not known" in page.inner_text("main")
    w.close()


def test_every_page_is_clean_usable_by_keyboard_and_on_a_phone(site, browser):
    DOCS.mkdir(exist_ok=True)
    for width in (1400, 375):
        w = Watched(browser, site["url"], width)
        page = w.page
        w.sign_in(site["keys"]["admin"])
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        focus = page.evaluate("getComputedStyle(document.querySelector('#f-grade')).outlineStyle")
        page.focus("#f-grade")
        assert (
            page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
            or focus
        )
        labels = page.eval_on_selector_all(
            "main input:not([type=hidden]), main select",
            "xs => xs.filter(x => !document.querySelector(`label[for='${x.id}']`))"
            ".map(x => x.name)",
        )
        assert labels == []
        width_ok = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert width_ok, "the page is wider than the screen"
        page.screenshot(path=str(DOCS / f"dashboard-queue-{width}.png"))
        lead_id = _rows(page)[0]["id"]
        for path, name in [
            (f"/leads/{lead_id}", "lead"),
            ("/models", "models"),
            ("/webhooks", "webhooks"),
        ]:
            page.goto(site["url"] + path)
            page.wait_for_load_state("networkidle")
            if name == "lead":
                page.wait_for_selector(".chart .main-svg")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (
                path
            )
            page.screenshot(path=str(DOCS / f"dashboard-{name}-{width}.png"))
        assert w.problems == [], w.problems
        w.close()
    # An unknown page: the error page, in the same look, with its status.
    r = httpx.get(site["url"] + "/no/such/page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert 'class="top"' in r.text and "Not found" in r.text
    api = httpx.get(site["url"] + "/api/v1/nope", headers=site["admin"])
    assert api.headers["content-type"] == "application/problem+json"


def test_demo_serves_a_full_queue(tmp_path):
    """`leadscore demo` (what `make demo` runs): generated leads imported, keys printed,
    and the URL it prints shows a full queue to the read key it prints."""
    import os
    import signal
    import subprocess
    import sys

    from tests.services import free_port

    port = free_port()
    command = [sys.executable, "-m", "leadscore", "demo", "--leads", "300",
               "--dir", str(tmp_path / "demo"), "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            lines.append(line)
            if "Ctrl-C stops" in line:
                break
        text = "".join(lines)
        read_key = re.search(r"read key .*?(lsk_\S+)", text).group(1)
        assert re.search(r"admin key .*?(lsk_\S+)", text)
        url = re.search(r"Open (http://\S+)/ ", text).group(1)
        for _ in range(100):
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, follow_redirects=True) as c:
            assert "/login" in str(c.get("/").url)
            r = c.post("/login", data={"key": read_key, "next": "/"})
            assert r.status_code == 200
            assert r.text.count("<tr>") - 1 == 50  # the head row, then a full page
            assert 'rel="next"' in r.text
            models = c.get("/models").text
            assert "Activate version 2" not in models  # a read key sees no button
            assert "version 2" in models.lower() or ">2<" in models
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)


def test_a_rep_accepts_and_rejects_from_the_lead_page(site, browser):
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["read"], "/?stage=mql")
    first, second = (r["id"] for r in _rows(page)[:2])
    page.goto(f"{site['url']}/leads/{first}")
    page.wait_for_selector(".chart .main-svg")
    page.click("form.verdict button[value=accepted]")
    page.wait_for_selector(".notice")
    assert page.locator("table.verdicts tr[data-verdict=accepted]").count() == 1
    page.goto(f"{site['url']}/leads/{second}")
    page.wait_for_selector(".chart .main-svg")
    page.click("form.verdict button[value=rejected]")  # no reason: refused, said why
    assert "required to reject" in page.inner_text("main")
    page.go_back()
    page.select_option("form.verdict select[name=reason]", "no budget")
    page.fill("form.verdict input[name=note]", "back in Q3")
    page.click("form.verdict button[value=rejected]")
    page.wait_for_selector(".notice")
    row = page.inner_text("table.verdicts tbody tr:first-child")
    assert "rejected" in row and "no budget" in row and "back in Q3" in row
    given = httpx.get(f"{site['url']}/api/v1/leads/{second}/feedback", headers=site["admin"]).json()
    assert [(g["verdict"], g["reason"], g["note"]) for g in given["data"]] == [
        ("rejected", "no budget", "back in Q3")
    ]
    assert (
        given["data"][0]["author"]
        == httpx.get(f"{site['url']}/api/v1/leads/{first}/feedback", headers=site["admin"]).json()[
            "data"
        ][0]["author"]
    )
    w.close()


def test_the_quarterly_review_on_the_services_data(site, browser):
    """Outcomes arrive, reps have judged some MQLs; an admin reviews the active version
    on the service's data from the models page, and the report shows the sales section.
    Its screenshot is the README's."""
    h = site["admin"]
    rows = httpx.get(site["url"] + "/api/v1/leads", params={"limit": 200}, headers=h).json()["data"]
    outcomes = [
        {"lead_id": r["lead_id"], "outcome": "won" if i % 3 == 0 else "lost", "at": time.time()}
        for i, r in enumerate(rows)
    ]
    assert httpx.post(site["url"] + "/api/v1/outcomes", json={"outcomes": outcomes},
                      headers=auth(site["keys"]["ingest"])).status_code == 200  # fmt: skip
    for i, r in enumerate(x for x in rows if x["lifecycle"]["stage"] == "mql"):
        body = {"verdict": "accepted"} if i % 4 else {"verdict": "rejected", "reason": "bad fit"}
        httpx.post(f"{site['url']}/api/v1/leads/{r['lead_id']}/feedback", json=body, headers=h)
    w = Watched(browser, site["url"])
    page = w.page
    w.sign_in(site["keys"]["admin"], "/models")
    page.click('button:has-text("Review version 1 on the service\'s data")')
    page.wait_for_load_state()
    frame = page.frame_locator("iframe.review")
    frame.locator("#sales").wait_for(timeout=30_000)
    assert "Acceptance by score band" in frame.locator("#sales").inner_text()
    report = w.context.new_page()
    report.set_viewport_size({"width": 1400, "height": 900})
    report.goto(site["url"] + "/models/b2b-saas/versions/1/review")
    report.wait_for_selector(".main-svg")
    report.locator("#sales").scroll_into_view_if_needed()
    report.screenshot(path=str(DOCS / "review-on-service-data.png"))
    report.close()
    assert w.problems == [], w.problems
    w.close()


def test_reps_judge_leads_in_the_dashboard_over_postgresql(browser, tmp_path, request):
    """The same loop from the browser, with the service on PostgreSQL."""
    from tests.service_support import fresh_postgres

    url = fresh_postgres(request.getfixturevalue("postgres_url"))
    made = make_keys(url)
    with server(url, tmp_path) as s:
        h = auth(made["admin"])
        r = httpx.post(s.url + "/api/v1/models", content=EXAMPLE_MODEL.read_text(),
                       headers={**h, "content-type": "application/yaml"})  # fmt: skip
        assert r.status_code == 201
        _wait_job(s.url, h, httpx.post(s.url + "/api/v1/models/b2b-saas/versions/1/activate",
                                       headers=h).json()["job"])  # fmt: skip
        attributes = {"title": "CTO", "industry": "fintech", "employees": 900, "country": "DE"}
        leads = [{"lead_id": f"P{i}", "attributes": attributes} for i in range(2)]
        httpx.post(s.url + "/api/v1/leads", json={"leads": leads}, headers=h)
        events = [{"lead_id": f"P{i}", "event": "demo_request", "timestamp": time.time()}
                  for i in range(2)]  # fmt: skip
        httpx.post(s.url + "/api/v1/events", json={"events": events}, headers=h)
        w = Watched(browser, s.url)
        page = w.page
        w.sign_in(made["read"], "/leads/P0")
        page.click("form.verdict button[value=accepted]")
        page.wait_for_selector(".notice")
        page.goto(s.url + "/leads/P1")
        page.select_option("form.verdict select[name=reason]", "wrong contact")
        page.click("form.verdict button[value=rejected]")
        page.wait_for_selector(".notice")
        got = [httpx.get(f"{s.url}/api/v1/leads/P{i}/feedback", headers=h).json()["data"]
               for i in range(2)]  # fmt: skip
        assert [(g[0]["verdict"], g[0]["reason"]) for g in got] == [
            ("accepted", None), ("rejected", "wrong contact")]  # fmt: skip
        w.close()
