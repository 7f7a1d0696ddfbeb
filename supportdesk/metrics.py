"""The desk's metrics (prometheus-client), per server process.

Counted where things happen: sockets open and close in the consumers, messages when their
doorbell is published (on commit), delivery latency from that publish to the socket send in each
consumer that delivers it, errors by a logging handler (every ERROR line), rate-limit refusals
in `supportdesk.ratelimit`. What the database knows (conversations by status, the queue) is read
when scraped (ops.collectors.DeskCollector, registered here by the ops app).

Each process has its own registry and serves it at /metrics (ops.views); Prometheus
scrapes every process by its own port (docs/OPERATIONS.md). The status page gathers the same
numbers across processes through Redis (supportdesk.stats).

This module is imported by the logging configuration, before the apps are ready: no models at
import time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.db.backends.signals import connection_created
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# Seconds; the measured floor of a socket-to-socket relay here is about 1 ms (docs/PERFORMANCE.md).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SOCKET_KINDS = ("visitor", "agent")

SOCKETS_OPEN = Gauge(
    "supportdesk_sockets_open", "Sockets open in this process.", ["kind"], registry=REGISTRY
)
SOCKETS_OPENED = Counter(
    "supportdesk_sockets_opened",
    "Sockets accepted (authorized) by this process.",
    ["kind"],
    registry=REGISTRY,
)
SOCKETS_REFUSED = Counter(
    "supportdesk_sockets_refused",
    "Sockets closed at connect: unauthorized (4401) or rate limited (4429).",
    ["kind", "code"],
    registry=REGISTRY,
)
SOCKET_SENDS = Counter(
    "supportdesk_socket_sends",
    "Messages sent over sockets (`send` frames): result is `stored` or the refusal's status.",
    ["kind", "result"],
    registry=REGISTRY,
)
RINGS_DROPPED = Counter(
    "supportdesk_rings_dropped",
    "Doorbells (group sends) this process gave up on: its publisher's round failed (Redis down "
    "or hung: `redis`) or its queue was full (`queue_full`). Sockets find what they missed in "
    "their resync.",
    ["reason"],
    registry=REGISTRY,
)
DATABASE_UNAVAILABLE = Counter(
    "supportdesk_database_unavailable",
    "Requests (`http`) and socket frames (`socket`) answered 503 because the database could not "
    "be reached or a statement timed out (supportdesk.unavailable); the client retries.",
    ["where"],
    registry=REGISTRY,
)
MESSAGES = Counter(
    "supportdesk_messages",
    "Messages stored and published by this process (visitor, agent, note, system).",
    ["sender"],
    registry=REGISTRY,
)
DELIVERY = Histogram(
    "supportdesk_delivery_seconds",
    "From a message's publish (on commit) to its send on a socket, per socket it reached live.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
ERRORS = Counter(
    "supportdesk_errors",
    "Lines logged at ERROR or above, by logger.",
    ["logger"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "supportdesk_rate_limited",
    "Requests, sockets and frames refused by a rate limit.",
    ["limit"],
    registry=REGISTRY,
)
HTTP_REFUSED = Counter(
    "supportdesk_http_busy",
    "Requests answered 503 at once because too many were waiting for a thread "
    "(SUPPORTDESK_HTTP_QUEUE).",
    registry=REGISTRY,
)
SQL_STATEMENTS = Counter(
    "supportdesk_sql_statements",
    "SQL statements this process sent to the database (savepoints included; the driver's "
    "own BEGIN and COMMIT are not).",
    registry=REGISTRY,
)
for _kind in SOCKET_KINDS:  # present at 0 from the start, so rates work from the first scrape
    SOCKETS_OPEN.labels(kind=_kind)
    SOCKETS_OPENED.labels(kind=_kind)
    DELIVERY.labels(kind=_kind)


class ErrorCounter(logging.Handler):
    """A logging handler (settings.LOGGING, level ERROR) that counts instead of writing."""

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels(logger=record.name).inc()


def count_statement(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """A database execute wrapper (Django's `connection.execute_wrapper` protocol) that counts
    every statement a connection sends; installed on each connection as it is made."""
    SQL_STATEMENTS.inc()
    return execute(sql, params, many, context)


def _count_statements_on(sender: Any, connection: Any, **kwargs: Any) -> None:
    if count_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_statement)


connection_created.connect(_count_statements_on)


def delivered(*, kind: str, published_at: float | None) -> None:
    """A consumer sent a message's event on its socket. `published_at` is wall-clock time
    (time.time()) set by the publishing process: across machines it is as good as their clocks."""
    if published_at is not None:
        DELIVERY.labels(kind=kind).observe(max(0.0, time.time() - published_at))


def totals() -> dict[str, object]:
    """This process's counters now, summed over labels: what the stats snapshot carries."""
    buckets = [0.0] * (len(LATENCY_BUCKETS) + 1)  # the last is +Inf
    latency_sum = 0.0
    for metric in DELIVERY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                le = sample.labels["le"]
                index = len(LATENCY_BUCKETS) if le == "+Inf" else LATENCY_BUCKETS.index(float(le))
                buckets[index] += sample.value
            elif sample.name.endswith("_sum"):
                latency_sum += sample.value
    return {
        "sockets": {
            kind: int(SOCKETS_OPEN.labels(kind=kind)._value.get()) for kind in SOCKET_KINDS
        },
        "messages": _sum(MESSAGES),
        "errors": _sum(ERRORS),
        "rate_limited": _sum(RATE_LIMITED),
        "latency_buckets": buckets,
        "latency_sum": latency_sum,
    }


def _sum(counter: Counter) -> float:
    return sum(
        sample.value
        for metric in counter.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
