"""Prometheus metrics shared by every component; the `component` label tells them apart."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "passage_http_requests_total", "HTTP requests answered", ["component", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "passage_http_request_seconds",
    "HTTP request latency",
    ["component", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PUBLISHED = Counter("passage_outbox_published_total", "Events the relay published", ["component"])
OUTBOX_PUBLISH_ERRORS = Counter(
    "passage_outbox_publish_errors_total", "Outbox publishes that failed and will be retried", ["component"]
)
EVENTS_CONSUMED = Counter(
    "passage_events_consumed_total",
    "Events handled by consumers, by outcome (applied, duplicate, ignored, retried, parked)",
    ["component", "consumer", "outcome"],
)
EVENT_LAG = Histogram(
    "passage_event_lag_seconds",
    "From the event's time to the commit of its effect",
    ["component", "consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
)
TIMERS_FIRED = Counter(
    "passage_timers_fired_total",
    "Durable timers run, by outcome (done, failed)",
    ["component", "kind", "outcome"],
)
