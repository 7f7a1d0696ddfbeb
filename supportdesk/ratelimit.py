"""Request rate limits: fixed windows counted in the cache (Redis when REDIS_URL is set).

A limit is "N requests per S seconds" for one key (a visitor, an IP address, a login name).
The count lives in Django's cache, so with Redis every server process shares it; without Redis
each process counts for itself (the embedded default runs one process). A refused request is
answered `429 Too Many Requests` with `Retry-After`, before anything is stored: a client that
waits and sends again loses nothing (messages carry their `client_id`, so a retry stores once).

Fixed windows admit up to 2N around a window's edge; that is the price of one INCR per request
and is fine for flood protection, which is what these limits are for.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from redis.commands.core import Script

from supportdesk.metrics import RATE_LIMITED

logger = logging.getLogger(__name__)

_counter: BaseCache | None = None


def counter() -> BaseCache:
    """One cache client for the whole process. Django's `cache` is one per request context
    under ASGI, and a Redis cache made per request opens a new connection per request: measured
    by bench/load.py as the largest part of a rate-limited request's time."""
    global _counter
    if _counter is None:
        _counter = caches.create_connection("default")
    return _counter


@receiver(setting_changed)
def _forget_counter(*, setting: str, **kwargs: object) -> None:
    global _counter, _away_until
    if setting == "CACHES":
        _counter, _away_until = None, 0.0


# A cache that failed is not asked again for this long: requests pass uncounted meanwhile. A
# Redis that hangs costs one request one socket timeout (1 s, settings.CACHES), not every
# request one each; after the pause one request tries again.
AWAY_SECONDS = 5.0
_away_until = 0.0


class CacheAway(Exception):
    """The cache failed within the last AWAY_SECONDS: not asked now."""


def _counted(limits: Sequence[tuple[str, object]]) -> list[int]:
    """`_hit_many`, unless the cache failed within AWAY_SECONDS (then `CacheAway`); a failure
    starts that pause and is raised."""
    global _away_until
    if time.monotonic() < _away_until:
        raise CacheAway
    try:
        return _hit_many(limits)
    except Exception:
        _away_until = time.monotonic() + AWAY_SECONDS
        raise


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "30/60" is 30 requests per 60 seconds."""
        limit, _, seconds = text.partition("/")
        rate = cls(int(limit), int(seconds or 1))
        if rate.limit < 1 or rate.seconds < 1:
            raise ValueError(f"A rate is N/SECONDS with both at least 1, not {text!r}")
        return rate

    def window_at(self, now: float) -> tuple[int, int]:
        """The fixed window `now` falls in, and the whole seconds (at least 1) until it ends."""
        window = int(now // self.seconds)
        return window, max(1, math.ceil((window + 1) * self.seconds - now))


def rate(name: str) -> Rate:
    """The configured rate `name` (settings.SUPPORTDESK_RATE_LIMITS; README "Configuration")."""
    return Rate.parse(settings.SUPPORTDESK_RATE_LIMITS[name])


def hit(name: str, key: object, *, refuses: bool = True) -> int:
    """Count one request against limit `name` for `key`.

    Returns 0 when it is allowed, else the seconds until the window ends (at least 1): the
    caller refuses the request (logged and counted here, once), unless `refuses` is False (a
    failed login is counted; the next attempt is the one refused, by `waiting`). If the cache
    cannot be reached (Redis restarting), the request is allowed: a limit that takes the desk
    down with Redis would do the flood's work for it; and for AWAY_SECONDS after that, requests
    pass without asking it (a hung Redis costs one request its timeout, not every request).
    """
    try:
        (wait,) = _counted([(name, key)])
    except CacheAway:
        return 0
    except Exception:  # redis-py's ConnectionError, TimeoutError, …: whatever the cache raises
        logger.warning("rate limit %s not counted: the cache is unavailable", name, exc_info=True)
        return 0
    if wait and refuses:
        refused(name, wait)
    return wait


def hit_many(limits: Sequence[tuple[str, object]]) -> tuple[str, int] | None:
    """`hit` for several (name, key) limits at once, in one round trip to Redis: the first
    limit that refuses, as (name, seconds to wait), or None if all allow the request. Every
    limit counts the request, refused or not."""
    try:
        waits = _counted(limits)
    except CacheAway:
        return None
    except Exception:  # as in `hit`: without the cache, nobody is held back
        names = ", ".join(name for name, _ in limits)
        logger.warning("rate limits %s not counted: the cache is unavailable", names, exc_info=True)
        return None
    for (name, _), wait in zip(limits, waits, strict=True):
        if wait:
            refused(name, wait)
            return name, wait
    return None


def refused(name: str, retry_after: int) -> None:
    """A request, socket or frame refused by limit `name`: one log line and one count."""
    RATE_LIMITED.labels(limit=name).inc()
    logger.info(
        "rate limit %s refused a request",
        name,
        extra={"event": "ratelimit.refused", "limit": name, "retry_after": retry_after},
    )


def _hit_many(limits: Sequence[tuple[str, object]]) -> list[int]:
    """Count each limit once; per limit 0 or the seconds until its window ends."""
    windows = [_window(name, key) for name, key in limits]
    cache = counter()
    if isinstance(cache, RedisCache):
        # One command for all (COUNT_SCRIPT). Django's cache reads the same keys (`waiting`).
        client = _client(cache)
        counts = _count_script(client)(
            keys=[cache.make_and_validate_key(cache_key) for _, cache_key, _ in windows],
            args=[limit.seconds + 1 for limit, _, _ in windows],
            client=client,
        )
    else:
        counts = [_count_locally(cache, limit, cache_key) for limit, cache_key, _ in windows]
    return [
        0 if count <= limit.limit else left
        for (limit, _, left), count in zip(windows, counts, strict=True)
    ]


# Each key counts one more; a count that starts a window sets its expiry (the window's length
# and a second). One EVALSHA for every limit of a request: each command packed and parsed by
# redis-py costs more of the process's time than Redis spends on it.
COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
end
return counts
"""
_script: Script | None = None


def _client(cache: RedisCache) -> Any:
    """A redis-py client on the cache's own connection pool, made once per cache object (the
    process-wide `counter()`): Django's `get_client` builds a new client at every call, which
    cost more than the command."""
    client = getattr(cache, "desk_client", None)
    if client is None:
        client = cache.desk_client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    return client


def _count_script(client: Any) -> Script:
    """COUNT_SCRIPT, made once (its SHA); each call runs it on the client it is given."""
    global _script
    if _script is None:
        _script = client.register_script(COUNT_SCRIPT)
    return _script


class Full(Exception):
    """`Windows` holds MAX_ENTRIES live windows: a new one cannot start."""


class Windows(LocMemCache):
    """The embedded default's counters (no Redis): in this process's memory, never forgetting a
    live window. LocMemCache, once it holds MAX_ENTRIES (300 by default), drops a third of its
    entries, live or not: ~360 requests of any kind emptied a login lockout (issue 16). Here only
    expired entries make room; full of live ones, a new window is refused (`Full`), and so is
    the request that needed it (`_count_locally`): refusing, not forgetting."""

    def _set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:
        # LocMemCache._set in full, without its cull: a key already held takes no new room.
        if key not in self._cache and len(self._cache) >= self._max_entries:
            self._sweep()
        self._cache[key] = value
        self._cache.move_to_end(key, last=False)
        self._expire_info[key] = self.get_backend_timeout(timeout)

    def _sweep(self) -> None:
        """Drop the expired entries; `Full` if that leaves no room."""
        now = time.time()
        for key in [k for k, at in self._expire_info.items() if at is not None and at <= now]:
            self._delete(key)
        if len(self._cache) >= self._max_entries:
            raise Full


def _count_locally(cache: BaseCache, limit: Rate, cache_key: str) -> int:
    """One count in a cache without pipelines (the in-memory one of the embedded desk). A
    `Windows` cache too full to start the window counts the request as over the limit."""
    # add() starts the window's count; incr() is atomic under LocMemCache's lock. Either may
    # need a new entry (incr() drops a window that expired after add() saw it live).
    try:
        if cache.add(cache_key, 1, timeout=limit.seconds + 1):
            return 1
        try:
            return cache.incr(cache_key)
        except ValueError:  # expired between add() and incr(): a new window has begun
            cache.add(cache_key, 1, timeout=limit.seconds + 1)
            return 1
    except Full:
        logger.warning("rate limit windows full: refusing", extra={"event": "ratelimit.full"})
        return limit.limit + 1


def waiting(name: str, key: object) -> int:
    """Like `hit`, without counting: seconds to wait if the next request would be refused."""
    limit, cache_key, left = _window(name, key)
    try:
        count = counter().get(cache_key) or 0
    except Exception:  # as in `hit`: without the cache, nobody is held back
        logger.warning("rate limit %s not read: the cache is unavailable", name, exc_info=True)
        return 0
    if count < limit.limit:
        return 0
    refused(name, left)
    return left


def _window(name: str, key: object) -> tuple[Rate, str, int]:
    """The rate, the current window's counter key, and the seconds left in the window."""
    limit = rate(name)
    window, left = limit.window_at(time.time())
    return limit, f"rl:{name}:{_key_part(key)}:{window}", left


_PLAIN_KEY = re.compile(r"[!-~]{1,100}")  # printable ASCII without spaces: an address, an id


def _key_part(key: object) -> str:
    """`key` as it goes into a cache key: as is when plain (readable in Redis), else a digest.
    A login name may be any Unicode, spaces and control characters included, which cache
    backends warn about (CacheKeyWarning) and some refuse."""
    text = str(key)
    if _PLAIN_KEY.fullmatch(text):
        return text
    return "h" + hashlib.blake2s(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class ConnectionWindow:
    """Limit `name` for one socket, counted in its own memory: a socket lives in one process,
    so its frames need no shared counter (and no round trip to Redis per frame)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rate = rate(name)
        self.window = -1
        self.count = 0

    def hit(self) -> int:
        """Count one frame: 0 if allowed, else seconds until the window ends."""
        window, left = self.rate.window_at(time.monotonic())
        if window != self.window:
            self.window, self.count = window, 0
        self.count += 1
        if self.count <= self.rate.limit:
            return 0
        if self.count == self.rate.limit + 1:  # logged once a window, not once per frame
            refused(self.name, left)
        else:
            RATE_LIMITED.labels(limit=self.name).inc()
        return left


def too_many(retry_after: int, message: str) -> JsonResponse:
    """The one 429 answer: the widget API's error shape plus Retry-After."""
    response = JsonResponse(
        {"error": "rate_limited", "message": message, "retry_after": retry_after}, status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


def client_ip(request: HttpRequest) -> str:
    """The caller's address. Behind N trusted proxies (SUPPORTDESK_TRUSTED_PROXIES=N), the Nth
    address from the right of X-Forwarded-For: the one our own outermost proxy saw. Addresses
    further left are the client's to invent and are ignored."""
    return address_from(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", "")
    )


def scope_ip(scope: dict) -> str:
    """`client_ip` for a socket's ASGI scope."""
    client = scope.get("client") or ("", 0)
    headers = dict(scope.get("headers") or [])
    return address_from(str(client[0]), headers.get(b"x-forwarded-for", b"").decode("latin-1"))


def address_from(remote_addr: str, forwarded_for: str) -> str:
    proxies = settings.SUPPORTDESK_TRUSTED_PROXIES
    if proxies and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return remote_addr or "unknown"
