"""Has the widget been installed? The inbox's Install page (chat.admin) says whether, and where,
the widget was last loaded on a site.

`widget_load_record` runs on every load of the widget page (chat.views.widget_page), so it must
cost next to nothing: the origin comes from the request's headers, and each server process
writes to the cache at most once a minute per inbox and site (a dict in memory says when it
last did); every other load costs no round trip. The cache (Redis when REDIS_URL is set, shared
by every process) keeps the last load for KEEP_SECONDS. No database write: a busy site would
otherwise write a row per page view. A cache that fails costs at most one load a minute its
timeout, and the Install page then says it cannot tell.
"""

from __future__ import annotations

import logging
import time
from typing import TypedDict
from urllib.parse import urlsplit

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from supportdesk.ratelimit import counter

logger = logging.getLogger(__name__)

WRITE_EVERY_SECONDS = 60
KEEP_SECONDS = 90 * 24 * 3600
_MAX_REMEMBERED = 10_000  # origins come from clients: the dict of last writes stays bounded

_written: dict[tuple[int, str], float] = {}  # (inbox id, origin) -> monotonic time of the write


class WidgetSeen(TypedDict):
    origin: str  # "https://shop.example.com"; "" when the site sends no Referer
    at: float  # Unix time of the load


class CacheUnavailable(Exception):
    """The cache did not answer: nobody can tell whether the widget was seen."""


def _key(inbox_id: int) -> str:
    return f"widget-seen:{inbox_id}"


def embedding_origin(request: HttpRequest) -> str | None:
    """The origin of the page that framed the widget (its Referer: browsers send the framing
    page's origin at least), "" if it sent none; None for a load that is no embedding (the
    widget page opened as a page of its own: Sec-Fetch-Dest "document")."""
    if request.headers.get("Sec-Fetch-Dest", "iframe") != "iframe":
        return None
    parts = urlsplit(request.headers.get("Referer", ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is no number
        return ""
    return f"{parts.scheme}://{host}{port}"


def widget_load_record(*, inbox_id: int, request: HttpRequest) -> None:
    """Remember that the widget of `inbox_id` was loaded, and where (at most one cache write a
    minute per process, inbox and origin)."""
    origin = embedding_origin(request)
    if origin is None:
        return
    now = time.monotonic()
    last = _written.get((inbox_id, origin))
    if last is not None and now - last < WRITE_EVERY_SECONDS:
        return
    if len(_written) >= _MAX_REMEMBERED:
        _written.clear()
    _written[(inbox_id, origin)] = now  # before the write: a failing cache is not retried at once
    seen: WidgetSeen = {"origin": origin, "at": time.time()}
    try:
        counter().set(_key(inbox_id), seen, KEEP_SECONDS)
    except Exception:  # redis-py's ConnectionError, TimeoutError: the widget loads regardless
        logger.warning("widget load not recorded: the cache is unavailable", exc_info=True)


def widget_last_seen(inbox_id: int) -> WidgetSeen | None:
    """The last recorded load of the inbox's widget on a site, None if none (within
    KEEP_SECONDS); CacheUnavailable if the cache does not answer."""
    try:
        seen = counter().get(_key(inbox_id))
    except Exception as exc:
        raise CacheUnavailable from exc
    return seen if isinstance(seen, dict) else None


@receiver(setting_changed)
def _forget_recent_writes(*, setting: str, **kwargs: object) -> None:
    """Another cache (tests give each test one): the next load of every inbox is written."""
    if setting == "CACHES":
        _written.clear()
