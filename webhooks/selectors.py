"""Which inboxes have an active webhook endpoint: asked on every message, answered from memory.

Messages are the hot path (docs/PERFORMANCE.md): a desk without webhooks, or a message in an
inbox without any, must not pay a query to learn that. Each process keeps the set of inbox ids
with an active endpoint, loaded from the database when it has none yet or when it learns that
the endpoints changed:

- in the process that saves or deletes an endpoint, at once (the next message reloads, and in
  that transaction sees the change);
- in the others, through a version token in the Django cache (Redis with `REDIS_URL`), set after
  every endpoint change commits and read at most every CHECK_SECONDS per process (a cache read,
  never a query): an endpoint created in the admin gets its events within CHECK_SECONDS;
- housekeeping (webhooks.outbox.webhooks_housekeeping) reloads it as well, so a change made while
  the cache could not be written still arrives within a housekeeping period.

A stale "has an endpoint" costs one query that finds none; only a stale "has none" could miss an
event, for at most those bounds after an endpoint is created or re-enabled.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import NamedTuple

from django.core.cache import cache
from django.db import transaction

from webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
VERSION_KEY = "webhooks:endpoints-version"


class _Snapshot(NamedTuple):
    inbox_ids: frozenset[int]
    version: str | None
    checked_at: float


_snapshot: _Snapshot | None = None
_lock = threading.Lock()


def inbox_has_endpoints(inbox_id: int) -> bool:
    """Whether the inbox may have an active endpoint (see the module: no query, nearly always)."""
    snapshot = _snapshot
    now = time.monotonic()
    if snapshot is None:
        snapshot = active_inboxes_refresh()
    elif now - snapshot.checked_at > CHECK_SECONDS:
        version = _version()
        if version is not None and version != snapshot.version:
            snapshot = active_inboxes_refresh(version=version)
        else:
            snapshot = _remember(snapshot._replace(checked_at=now))
    return inbox_id in snapshot.inbox_ids


def active_inboxes_refresh(*, version: str | None = None) -> _Snapshot:
    """Load the set from the database (one query) and keep it. The version is read before the
    query, so a change that commits in between is loaded again at the next check."""
    if version is None:
        version = _version()
    inbox_ids = frozenset(
        WebhookEndpoint.objects.filter(is_active=True).values_list("inbox_id", flat=True)
    )
    return _remember(_Snapshot(inbox_ids, version, time.monotonic()))


def active_inboxes_forget() -> None:
    """This process reloads the set at its next message."""
    global _snapshot
    with _lock:
        _snapshot = None


def endpoints_changed() -> None:
    """An endpoint was created, changed or deleted: this process reloads at once, the others
    within CHECK_SECONDS of the commit. Call it inside the change's transaction."""
    active_inboxes_forget()
    transaction.on_commit(_announce)


def _announce() -> None:
    active_inboxes_forget()  # a load between the change and its commit did not see it
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # the cache is down or full: housekeeping's reload is the safety net
        logger.warning("webhook endpoints changed, but the cache could not say so", exc_info=True)


def _version() -> str | None:
    try:
        value = cache.get(VERSION_KEY)
    except Exception:  # Redis unreachable: keep what we have (housekeeping reloads it)
        return None
    return value if isinstance(value, str) else None


def _remember(snapshot: _Snapshot) -> _Snapshot:
    global _snapshot
    with _lock:
        _snapshot = snapshot
    return snapshot
