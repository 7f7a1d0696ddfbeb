"""Readiness checks: can this process reach what it needs to serve the desk?

- database: `SELECT 1` on a connection from the pool the requests use, obtained within the
  timeout (after an outage a fresh connection works while the pool may have none yet: /readyz
  must not say ready before requests can be served); without a pool, a fresh connection;
- redis: PING to the cache's Redis (the rate limits' and the status page's store), on a
  connection of its own with short timeouts; "not configured" without Redis;
- channel_layer: a real round trip through this process's channel layer, the path every
  doorbell takes: a group_send to a group this process listens to, received back;
- encryption: the configured keys fit the key table (supportdesk.crypto.check): fails (error
  "KeyProblem") when the database holds keys and SUPPORTDESK_ENCRYPTION_KEY is unset, or the key
  cannot unwrap them; "not configured" when neither has any.

The checks run at once, each within SUPPORTDESK_HEALTH_TIMEOUT_SECONDS, so a dead or silent
dependency answers 503 in about that time rather than hanging a load balancer's probe. Results
name the check and the exception's class only (`detail`, the exception's text, is for the
admins' status page): no host names, addresses or passwords leave through /readyz.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal, NotRequired, TypedDict

import redis.asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import connections

from supportdesk import crypto, ratelimit, stats

CheckName = Literal["database", "redis", "channel_layer", "encryption"]


class CheckResult(TypedDict):
    ok: bool
    latency_ms: float | None
    status: str  # "ok", "failed", "timeout" or "not configured"
    error: NotRequired[str]  # the exception's class
    detail: NotRequired[str]  # its text: for admins only, never in /readyz


class Readiness(TypedDict):
    status: Literal["ok", "fail"]
    checks: dict[str, CheckResult]


def timeout() -> float:
    return settings.SUPPORTDESK_HEALTH_TIMEOUT_SECONDS


async def readiness() -> Readiness:
    checks: dict[CheckName, Callable[[], Awaitable[str]]] = {
        "database": check_database,
        "redis": check_redis,
        "channel_layer": check_channel_layer,
        "encryption": check_encryption,
    }
    results = await asyncio.gather(*(timed(check) for check in checks.values()))
    by_name = dict(zip(checks, results, strict=True))
    return {
        "status": "ok" if all(r["ok"] for r in results) else "fail",
        "checks": by_name,  # type: ignore[dict-item]
    }


def public(readiness: Readiness) -> Readiness:
    """The answer without exception texts."""
    return {
        "status": readiness["status"],
        "checks": {
            name: {key: value for key, value in result.items() if key != "detail"}  # type: ignore[misc]
            for name, result in readiness["checks"].items()
        },
    }


async def timed(check: Callable[[], Awaitable[str]]) -> CheckResult:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout()):
            status = await check()
    except TimeoutError:
        return {"ok": False, "latency_ms": None, "status": "timeout", "error": "TimeoutError"}
    except Exception as exc:  # the check failed the way the dependency fails: say which way
        return {
            "ok": False,
            "latency_ms": round((time.perf_counter() - start) * 1000, 2),
            "status": "failed",
            "error": type(exc).__name__,
            "detail": str(exc)[:300],
        }
    latency = None if status == "not configured" else round((time.perf_counter() - start) * 1000, 2)
    return {"ok": True, "latency_ms": latency, "status": status}


async def check_database() -> str:
    # In a thread of its own (not the request's), so a slow connect cannot hold up the others;
    # bounded by the connect timeout, so such threads do not pile up either.
    await sync_to_async(_select_one, thread_sensitive=False)()
    return "ok"


def _select_one() -> None:
    connection = connections["default"]
    pool = getattr(connection, "pool", None)
    if pool is not None:
        pool.open()  # as a request's first query would
        # Within the check's own timeout, so the answer names the pool's failure (PoolTimeout).
        with pool.connection(timeout=timeout() * 0.75) as conn:
            conn.execute("SELECT 1")
        return
    if connection.vendor == "postgresql":
        import psycopg

        params = connection.get_connection_params()
        params["connect_timeout"] = max(1, round(timeout()))
        with psycopg.connect(**params) as conn:
            conn.execute("SELECT 1")
        return
    try:  # SQLite: the file itself
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def check_encryption() -> str:
    return await sync_to_async(_check_keys, thread_sensitive=False)()


def _check_keys() -> str:
    try:
        return crypto.check()
    finally:
        connections["default"].close()  # this worker thread's own connection: back to the pool


async def check_redis() -> str:
    cache = ratelimit.counter()
    if not isinstance(cache, RedisCache):
        return "not configured"
    options = settings.CACHES["default"].get("OPTIONS", {})
    if "sentinel_manager" in options:  # discovery through the Sentinels: the cache's own client
        await sync_to_async(_ping_cache, thread_sensitive=False)(cache)
        return "ok"
    client = redis.asyncio.Redis.from_url(
        settings.CACHES["default"]["LOCATION"],
        socket_connect_timeout=timeout(),
        socket_timeout=timeout(),
    )
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


def _ping_cache(cache: RedisCache) -> None:
    cache._cache.get_client(write=True).ping()


_probe_channels: dict[asyncio.AbstractEventLoop, str] = {}
_probe_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


async def check_channel_layer() -> str:
    """group_send to this process's own probe group and wait for it to come back. One probe
    channel per process (per event loop), reused: the pub/sub layer keeps a channel subscribed
    until a receive on it is cancelled, so a channel per check would leak subscriptions."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    loop = asyncio.get_running_loop()
    lock = _probe_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        channel = _probe_channels.get(loop)
        if channel is None:
            channel = _probe_channels[loop] = await layer.new_channel("health.")
        group = f"health.{stats.PID}"
        try:
            await layer.group_add(group, channel)  # each time: it also renews the membership
            nonce = uuid.uuid4().hex
            await layer.group_send(group, {"type": "health.probe", "nonce": nonce})
            while True:  # an earlier check's probe that came back after its timeout is skipped
                message = await layer.receive(channel)
                if message.get("nonce") == nonce:
                    return "ok"
        except BaseException:
            # A cancelled receive makes the pub/sub layer drop the channel: start afresh.
            del _probe_channels[loop]
            raise
