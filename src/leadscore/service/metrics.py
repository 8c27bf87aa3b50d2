"""The service's Prometheus metrics (GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "leadscore_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "leadscore_request_seconds",
    "Time to answer a request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS = Counter("leadscore_events_ingested_total", "Events stored", ["source"])
DUPLICATES = Counter("leadscore_event_duplicates_total", "Events skipped: event_id stored before")
SWEEP = Histogram(
    "leadscore_sweep_seconds",
    "Time of one sweep of a model",
    ["model"],
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800),
)
RESCORED = Counter("leadscore_leads_rescored_total", "Stored scores changed", ["model", "cause"])
DELIVERIES = Counter(
    "leadscore_webhook_attempts_total",
    "Webhook attempts by outcome (delivered, retry, failed, disabled)",
    ["outcome"],
)
DELIVERY_SECONDS = Histogram(
    "leadscore_webhook_attempt_seconds",
    "Time of one webhook attempt, from sending to the answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
DELIVERY_LAG = Histogram(
    "leadscore_webhook_delivery_lag_seconds",
    "From the change that wrote a message to its delivery",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000),
)
