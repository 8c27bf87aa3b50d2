"""Synthetic B2B leads and events with a known ground truth (`converted`).

Leads are drawn in chunks and written as they are made, so that a million leads
with fifty million events never sit in memory at once. Conversion depends on fit
(industry, size, seniority, email type) and on behaviour (intent, recency, demo
requests, unsubscribes), through a hidden logistic model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from leadscore.outputs import atomic_files
from leadscore.timeutil import to_epoch

DAY_US = 86_400 * 1_000_000
DEFAULT_END = "2026-11-01T00:00:00Z"
OUTPUT_FILES = ("leads.parquet", "events.parquet")

INDUSTRIES = {  # name: (share, fit weight)
    "software": (0.22, 1.0),
    "fintech": (0.08, 0.9),
    "healthcare": (0.10, 0.3),
    "manufacturing": (0.12, 0.1),
    "retail": (0.10, -0.2),
    "education": (0.07, -0.6),
    "government": (0.05, -0.4),
    "media": (0.06, 0.0),
    "consulting": (0.10, 0.2),
    "logistics": (0.06, 0.1),
    "": (0.04, -0.3),
}
SENIORITY = {  # level: (share, fit weight, titles)
    "c-level": (0.05, 0.9, ["Chief Technology Officer", "CEO", "Chief Marketing Officer", "CFO"]),
    "vp": (0.09, 1.0, ["VP Engineering", "VP of Sales", "VP Marketing", "Vice President, IT"]),
    "director": (0.16, 0.8, ["Director of Marketing", "IT Director", "Head of Growth"]),
    "manager": (0.25, 0.3, ["Marketing Manager", "Engineering Manager", "Sales Ops Manager"]),
    "individual": (0.38, -0.2, ["Software Engineer", "Data Analyst", "Account Executive"]),
    "student": (0.07, -1.5, ["Student", "Graduate Student", "Intern"]),
}
DEPARTMENTS = ["engineering", "marketing", "sales", "it", "finance", "operations", "hr"]
COUNTRIES = {"US": 0.38, "GB": 0.1, "DE": 0.09, "FR": 0.07, "CA": 0.06, "AU": 0.04, "IN": 0.08,
             "BR": 0.04, "NL": 0.03, "ES": 0.03, "": 0.06, "unknown": 0.02}  # fmt: skip
SOURCES = {"organic_search": 0.28, "paid_search": 0.16, "content_download": 0.14, "webinar": 0.08,
           "referral": 0.08, "event": 0.07, "outbound": 0.12, "partner": 0.07}  # fmt: skip
FREE_MAIL = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"]
COMPETITORS = ["rivalscore.io", "leadrank.com"]
EVENT_TYPES = ["email_open", "page_view", "email_click", "form_submit", "webinar_attended"]
EVENT_SHARES = [0.40, 0.45, 0.09, 0.035, 0.025]
URLS = ["/", "/pricing", "/docs/getting-started", "/docs/api", "/blog/lead-scoring-101",
        "/blog/mql-vs-sql", "/features", "/customers", "/careers", "/integrations"]  # fmt: skip
CAMPAIGNS = ["newsletter", "product-update", "webinar-invite", "nurture-1", "nurture-2"]
LEAD_SCHEMA = pa.schema(
    [
        ("lead_id", pa.int64()),
        ("title", pa.string()),
        ("seniority", pa.string()),
        ("department", pa.string()),
        ("industry", pa.string()),
        ("employees", pa.int64()),
        ("country", pa.string()),
        ("email_domain", pa.string()),
        ("source", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("converted", pa.bool_()),
    ]
)
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.int64()),
        ("lead_id", pa.int64()),
        ("event", pa.dictionary(pa.int8(), pa.string())),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("url", pa.dictionary(pa.int8(), pa.string())),
        ("campaign", pa.dictionary(pa.int8(), pa.string())),
    ]
)
ALL_EVENTS = [*EVENT_TYPES, "demo_request", "unsubscribe", "email_bounce"]


@dataclass(frozen=True)
class Generated:
    leads: int
    events: int
    converted: int


def generate(
    out_dir: Path,
    n_leads: int,
    *,
    seed: int = 0,
    events_per_lead: float = 50.0,
    days: int = 365,
    end: float | str = DEFAULT_END,
    chunk_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> Generated:
    """Write out_dir/leads.parquet and out_dir/events.parquet (both or neither).

    `end` is the time of the last event: epoch seconds or a text time.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    end_us = int(to_epoch(end)) * 1_000_000
    rng = np.random.default_rng(seed)
    totals = [0, 0, 0]
    with (
        atomic_files([out_dir / name for name in OUTPUT_FILES]) as (leads_tmp, events_tmp),
        pq.ParquetWriter(leads_tmp, LEAD_SCHEMA) as lw,
        pq.ParquetWriter(events_tmp, EVENT_SCHEMA) as ew,
    ):
        for start in range(0, n_leads, chunk_size):
            n = min(chunk_size, n_leads - start)
            leads, events = _chunk(rng, start, n, totals[1], events_per_lead, days, end_us)
            lw.write_table(leads)
            ew.write_table(events, row_group_size=1_000_000)
            totals[0] += n
            totals[1] += events.num_rows
            totals[2] += int(np.sum(leads["converted"].to_numpy(zero_copy_only=False)))
            if progress:
                progress(n)
    return Generated(*totals)


def _pick(rng: np.random.Generator, shares: dict, n: int) -> np.ndarray:
    names = list(shares)
    weights = np.array([v[0] if isinstance(v, tuple) else v for v in shares.values()], float)
    return rng.choice(len(names), size=n, p=weights / weights.sum())


def _chunk(rng, start: int, n: int, first_event_id: int, per_lead: float, days: int, end_us: int):
    ind = _pick(rng, INDUSTRIES, n)
    sen = _pick(rng, SENIORITY, n)
    country = _pick(rng, COUNTRIES, n)
    source = _pick(rng, SOURCES, n)
    employees = np.clip(np.round(rng.lognormal(5.0, 1.6, n)), 1, 200_000).astype(np.int64)

    ind_names, sen_names = list(INDUSTRIES), list(SENIORITY)
    is_student = np.array(sen_names)[sen] == "student"
    # Email: company domain (shared by colleagues: accounts), free mail, competitor, .edu.
    kind = rng.choice(4, size=n, p=[0.72, 0.24, 0.01, 0.03])
    kind[is_student] = np.where(rng.random(is_student.sum()) < 0.7, 3, 1)
    account = (start + np.arange(n)) // 3 + rng.integers(0, 2, n)
    domain = np.array([f"company{a}.com" for a in account], dtype=object)
    domain[kind == 1] = rng.choice(FREE_MAIL, size=(kind == 1).sum())
    domain[kind == 2] = rng.choice(COMPETITORS, size=(kind == 2).sum())
    domain[kind == 3] = np.array([f"univ{a % 500}.edu" for a in account[kind == 3]], dtype=object)

    titles = np.array(
        [SENIORITY[sen_names[s]][2][i % len(SENIORITY[sen_names[s]][2])]
         for s, i in zip(sen, rng.integers(0, 12, n), strict=True)],
        dtype=object,
    )  # fmt: skip
    size_w = np.select([employees < 20, employees < 200, employees <= 5000], [-0.8, 0.2, 0.9], 0.4)
    email_w = np.select([kind == 1, kind == 2, kind == 3], [-0.6, -3.0, -1.0], 0.2)
    fit = (
        np.array([INDUSTRIES[k][1] for k in ind_names])[ind]
        + np.array([SENIORITY[k][1] for k in sen_names])[sen]
        + size_w
        + email_w
        + rng.normal(0, 0.5, n)
    )
    interest = np.exp(0.35 * fit + rng.normal(0, 0.9, n))
    created = end_us - (rng.random(n) * days * DAY_US).astype(np.int64)
    recency = rng.beta(1 + 2 * (interest > np.median(interest)), 1, n)  # hot leads act lately

    n_events = rng.poisson(per_lead * interest / interest.mean())
    n_events = np.minimum(n_events, 5_000)
    lead_of = np.repeat(np.arange(n), n_events)
    m = lead_of.size

    # Bursts: events gather in sessions of a few minutes; sessions spread over the lead's life.
    n_sessions = np.maximum(1, n_events // 5)
    session_start = np.concatenate([[0], np.cumsum(n_sessions)[:-1]])
    lead_of_session = np.repeat(np.arange(n), n_sessions)
    life = end_us - created
    u = rng.random(lead_of_session.size) ** (1 / (1 + 3 * recency[lead_of_session]))
    session_time = created[lead_of_session] + (u * life[lead_of_session]).astype(np.int64)
    pick = session_start[lead_of] + (rng.random(m) * n_sessions[lead_of]).astype(np.int64)
    ts = session_time[pick] + rng.exponential(15 * 60e6, m).astype(np.int64)

    etype = rng.choice(len(EVENT_TYPES), size=m, p=EVENT_SHARES)
    hot = np.clip(np.log1p(interest[lead_of]) / 3, 0, 0.6)
    url_p = rng.random(m)
    url = np.select(
        [url_p < 0.005 + 0.05 * hot, url_p < 0.2 + 0.1 * hot, url_p < 0.5, url_p < 0.65],
        [1, rng.choice([2, 3], m), rng.choice([4, 5], m), rng.choice([6, 7, 9], m)],
        rng.choice([0, 8], m, p=[0.8, 0.2]),
    )
    url = np.where(is_student[lead_of] & (rng.random(m) < 0.2), 8, url)
    is_page = etype == 1
    is_email = np.isin(etype, [0, 2])

    # One-off events: demo requests (intent), unsubscribes and bounces (negative).
    demo = rng.random(n) < 1 / (1 + np.exp(-(1.2 * np.log(interest) + 0.8 * fit - 3.2)))
    unsub = rng.random(n) < 1 / (1 + np.exp(1.5 * np.log(interest) + 3.0))
    bounce = rng.random(n) < np.where(kind == 1, 0.01, 0.03)
    extra_leads, extra_types = [], []
    for flag, code in ((demo, 5), (unsub, 6), (bounce, 7)):
        idx = np.flatnonzero(flag)
        extra_leads.append(idx)
        extra_types.append(np.full(idx.size, code))
    x_lead = np.concatenate(extra_leads)
    x_type = np.concatenate(extra_types)
    x_ts = created[x_lead] + (rng.random(x_lead.size) ** 0.4 * life[x_lead]).astype(np.int64)

    logit = -4.1 + 0.9 * fit + 0.6 * np.log(interest) + 1.6 * demo - 1.2 * unsub
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))

    all_lead = np.concatenate([lead_of, x_lead])
    all_type = np.concatenate([etype, x_type]).astype(np.int8)
    all_ts = np.minimum(np.concatenate([ts, x_ts]), end_us - 1)
    all_url = np.concatenate([np.where(is_page, url, -1), np.full(x_lead.size, -1)]).astype(np.int8)
    camp = rng.integers(0, len(CAMPAIGNS), all_lead.size).astype(np.int8)
    with_campaign = np.concatenate([is_email, np.zeros(x_lead.size, bool)])
    order = np.lexsort((all_ts, all_lead))
    k = all_lead.size

    leads = pa.table(
        {
            "lead_id": pa.array(start + np.arange(n) + 1, pa.int64()),
            "title": pa.array(titles, pa.string()),
            "seniority": pa.array(np.array(sen_names, dtype=object)[sen], pa.string()),
            "department": pa.array(rng.choice(DEPARTMENTS, n), pa.string()),
            "industry": pa.array(np.array(ind_names, dtype=object)[ind], pa.string()),
            "employees": pa.array(employees, pa.int64()),
            "country": pa.array(np.array(list(COUNTRIES), dtype=object)[country], pa.string()),
            "email_domain": pa.array(domain, pa.string()),
            "source": pa.array(np.array(list(SOURCES), dtype=object)[source], pa.string()),
            "created_at": pa.array(created, pa.timestamp("us", tz="UTC")),
            "converted": pa.array(converted, pa.bool_()),
        },
        schema=LEAD_SCHEMA,
    )
    events = pa.table(
        {
            "event_id": pa.array(first_event_id + np.arange(k) + 1, pa.int64()),
            "lead_id": pa.array(start + all_lead[order] + 1, pa.int64()),
            "event": _dict(all_type[order], ALL_EVENTS),
            "timestamp": pa.array(all_ts[order], pa.timestamp("us", tz="UTC")),
            "url": _dict(all_url[order], URLS),
            "campaign": _dict(np.where(with_campaign, camp, -1)[order], CAMPAIGNS),
        },
        schema=EVENT_SCHEMA,
    )
    return leads, events


def _dict(codes: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    """Codes into `values`, -1 meaning null: a compact, dictionary-encoded column."""
    indices = pa.array(codes, pa.int8(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string()))
