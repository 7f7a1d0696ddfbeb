"""Live numbers of every server process, for the status page.

Each process samples its own counters (supportdesk.metrics.totals) every
SUPPORTDESK_STATS_SECONDS and keeps the samples of the last WINDOW_SECONDS, so it can say what
happened over the last minute and the last five: messages, errors, refusals, and the delivery
latency histogram of just that window. It writes that snapshot (host, pid, open sockets,
windows) to Redis under a key of its own that expires after STALE_AFTER intervals, and adds
itself to a sorted set of processes scored by the time it last wrote. The status page reads all
fresh snapshots and merges them; a process that died drops out by itself.

Without Redis (the embedded single-process desk) there is nothing to share: the status page
reads the local process. The sampling task starts with the first request or socket a process
serves (`supportdesk.process.ServerProcess`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections import deque
from typing import Any, TypedDict

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache.backends.redis import RedisCache

from supportdesk import metrics, ratelimit

logger = logging.getLogger(__name__)

HOST = socket.gethostname()
PID = os.getpid()
PROCESS = f"{HOST}:{PID}"
STARTED_AT = time.time()
WINDOWS = (60, 300)  # seconds: "the last minute", "the last five minutes"
WINDOW_SECONDS = max(WINDOWS)
STALE_AFTER = 3  # intervals without a write before a process no longer counts
PROCESSES_KEY = "stats:processes"


class Window(TypedDict):
    seconds: float  # what the window really spans (less while the process is young)
    messages: float
    errors: float
    rate_limited: float
    latency_buckets: list[float]  # per bucket of metrics.LATENCY_BUCKETS, then +Inf
    latency_sum: float


class Snapshot(TypedDict):
    process: str
    host: str
    pid: int
    started_at: float
    at: float
    sockets: dict[str, int]
    windows: dict[str, Window]  # keyed by str(seconds): JSON keys are strings


_history: deque[tuple[float, dict[str, Any]]] = deque()


def _sample(now: float | None = None) -> dict[str, Any]:
    """Record this process's totals now (at most one kept sample per interval) and return them."""
    now = time.time() if now is None else now
    current = metrics.totals()
    interval = settings.SUPPORTDESK_STATS_SECONDS
    if not _history or now - _history[-1][0] >= interval * 0.9:
        _history.append((now, current))
    while len(_history) > 2 and _history[1][0] <= now - WINDOW_SECONDS:
        _history.popleft()
    return current


_history.append((STARTED_AT, metrics.totals()))  # a window of a young process starts here


def _window(current: dict[str, Any], now: float, seconds: int) -> Window:
    """The change from the oldest sample within `seconds` (the process start if younger)."""
    base_at, base = _history[0]
    for at, sample in _history:
        if at >= now - seconds:
            break
        base_at, base = at, sample
    return {
        "seconds": max(0.0, now - base_at),
        "messages": current["messages"] - base["messages"],
        "errors": current["errors"] - base["errors"],
        "rate_limited": current["rate_limited"] - base["rate_limited"],
        "latency_buckets": [
            c - b for c, b in zip(current["latency_buckets"], base["latency_buckets"], strict=True)
        ],
        "latency_sum": current["latency_sum"] - base["latency_sum"],
    }


def local_snapshot() -> Snapshot:
    now = time.time()
    current = _sample(now)
    return {
        "process": PROCESS,
        "host": HOST,
        "pid": PID,
        "started_at": STARTED_AT,
        "at": now,
        "sockets": current["sockets"],
        "windows": {str(seconds): _window(current, now, seconds) for seconds in WINDOWS},
    }


def _redis() -> tuple[Any, RedisCache] | None:
    """The cache's Redis client (the rate limits' process-wide cache), or None without Redis."""
    cache = ratelimit.counter()
    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(write=True), cache


def _ttl() -> int:
    return max(2, int(settings.SUPPORTDESK_STATS_SECONDS * STALE_AFTER + 0.999))


def write_snapshot() -> Snapshot:
    """Sample and, with Redis, share this process's snapshot."""
    snapshot = local_snapshot()
    found = _redis()
    if found is not None:
        client, cache = found
        pipe = client.pipeline(transaction=False)
        pipe.set(cache.make_key(f"stats:{PROCESS}"), json.dumps(snapshot), ex=_ttl())
        processes = cache.make_key(PROCESSES_KEY)
        pipe.zadd(processes, {PROCESS: snapshot["at"]})
        pipe.zremrangebyscore(processes, "-inf", snapshot["at"] - _ttl())
        pipe.expire(processes, _ttl() * 10)
        pipe.execute()
    return snapshot


class Gathered(TypedDict):
    shared: bool  # read from Redis (every process) or only this process
    error: str | None  # Redis could not be read: only this process is shown
    processes: list[Snapshot]


def gather() -> Gathered:
    """Every live process's snapshot, this one's fresh. With Redis down, this process alone,
    and the error."""
    mine = write_snapshot_safely()
    found = _redis()
    if found is None:
        return {"shared": False, "error": None, "processes": [mine]}
    client, cache = found
    try:
        names = client.zrangebyscore(cache.make_key(PROCESSES_KEY), time.time() - _ttl(), "+inf")
        names = [n.decode() if isinstance(n, bytes) else n for n in names if n]
        others = [n for n in names if n != PROCESS]
        raw = client.mget([cache.make_key(f"stats:{n}") for n in others]) if others else []
    except Exception as exc:  # whatever redis-py raises: the page still shows this process
        return {"shared": False, "error": type(exc).__name__, "processes": [mine]}
    processes = [mine] + [json.loads(item) for item in raw if item]
    processes.sort(key=lambda p: (p["host"], p["pid"]))
    return {"shared": True, "error": None, "processes": processes}


def write_snapshot_safely() -> Snapshot:
    try:
        return write_snapshot()
    except Exception:  # Redis down: sampling went on; the snapshot is shared next time
        return local_snapshot()


class Summary(TypedDict):
    seconds: float
    messages: float
    messages_per_minute: float
    errors: float
    rate_limited: float
    deliveries: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None


def merge(processes: list[Snapshot], seconds: int) -> Summary:
    """The processes' windows of `seconds` added up, with latency percentiles of the whole."""
    windows = [p["windows"][str(seconds)] for p in processes]
    buckets = [sum(column) for column in zip(*(w["latency_buckets"] for w in windows), strict=True)]
    count = buckets[-1] if buckets else 0.0
    span = max((w["seconds"] for w in windows), default=0.0)
    messages = sum(w["messages"] for w in windows)
    latency_sum = sum(w["latency_sum"] for w in windows)
    return {
        "seconds": span,
        "messages": messages,
        "messages_per_minute": messages * 60 / span if span >= 1 else messages,
        "errors": sum(w["errors"] for w in windows),
        "rate_limited": sum(w["rate_limited"] for w in windows),
        "deliveries": int(count),
        "p50_ms": quantile_ms(buckets, 0.50),
        "p95_ms": quantile_ms(buckets, 0.95),
        "p99_ms": quantile_ms(buckets, 0.99),
        "mean_ms": latency_sum / count * 1000 if count else None,
    }


def quantile_ms(cumulative: list[float], q: float) -> float | None:
    """Like Prometheus' histogram_quantile: linear within the bucket the quantile falls in.
    `cumulative` counts per bucket bound of metrics.LATENCY_BUCKETS, then +Inf."""
    if not cumulative or cumulative[-1] <= 0:
        return None
    bounds = [*metrics.LATENCY_BUCKETS, float("inf")]
    rank = q * cumulative[-1]
    below, lower = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower * 1000  # beyond the last bound: say the last bound
            inside = count - below
            fraction = (rank - below) / inside if inside else 1.0
            return (lower + (bound - lower) * fraction) * 1000
        below, lower = count, bound
    return None


# --- The sampling task --------------------------------------------------------------------------

_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def ensure_reporter() -> None:
    """Start this process's sampling task on the running loop, once."""
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        for other in [other for other in _tasks if other.is_closed()]:
            del _tasks[other]
        _tasks[loop] = loop.create_task(_report_forever(), name="supportdesk-stats")


async def _report_forever() -> None:
    failing = False
    while True:
        try:
            await sync_to_async(write_snapshot, thread_sensitive=False)()
            if failing:
                logger.info("stats snapshot written again", extra={"event": "stats.recovered"})
            failing = False
        except Exception as exc:
            if not failing:  # once per outage, not every few seconds
                logger.warning(
                    "stats snapshot not written: %s",
                    type(exc).__name__,
                    extra={"event": "stats.failed"},
                )
            failing = True
        await asyncio.sleep(settings.SUPPORTDESK_STATS_SECONDS)
