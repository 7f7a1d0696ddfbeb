"""Periodic work no single request triggers: stale presence, inboxes opening or closing,
auto-end, the assignment queue, uploads never sent.

Dashboard sockets run it on their heartbeats, at most every SUPPORTDESK_HOUSEKEEPING_SECONDS per
server process, so a desk with anyone at work needs no scheduler. `manage.py housekeeping` runs
the same from cron for desks where nobody is connected (auto-end still happens overnight).
Every step is idempotent and safe to run concurrently from several processes.

The retention purge (SUPPORTDESK_RETENTION_DAYS) rides on the same heartbeats, at most once an
hour per server process: its work is a few queries when nothing is due, and batched when
something is. `manage.py housekeeping` does not purge (each cron run is a fresh process, so an
hourly clock would not hold); cron `manage.py purge_conversations` for that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from agents.assignment import auto_assign
from agents.presence import presence_sweep, publish_opening_changes
from agents.triage import conversations_wake
from chat.attachments import orphans_purge
from chat.calls import calls_miss_overdue
from chat.models import Conversation, Inbox, UsedSignature
from chat.privacy import conversations_purge
from chat.services import conversations_auto_end

logger = logging.getLogger(__name__)

_last_run = 0.0
PURGE_INTERVAL_SECONDS = 3600.0
_last_purge: float | None = None  # None: not yet in this process

# Periodic work of the apps above this one, which agents may not import (docs/ARCHITECTURE.md):
# an app appends a function here from its AppConfig.ready (`mail.apps`: the email notices and
# their queue). Each runs at the end of every housekeeping, on its own: one that fails is logged
# and the others still run. It returns counts, added to housekeeping's.
periodic_tasks: list[Callable[[], dict[str, int]]] = []


def housekeeping() -> dict[str, int]:
    presence_sweep()
    publish_opening_changes()
    ended = conversations_auto_end()
    woken = conversations_wake()  # snoozes whose time came (agents.triage)
    queued = (
        Conversation.objects.filter(
            status=Conversation.Status.WAITING, inbox__assignment=Inbox.Assignment.AUTO
        )
        .values_list("inbox_id", flat=True)
        .distinct()
    )
    assigned = auto_assign(inbox_ids=list(queued))
    # Used identity signatures past the time they could be accepted anyway (chat.identity).
    swept, _ = UsedSignature.objects.filter(expires_at__lt=timezone.now()).delete()
    orphans = orphans_purge()  # uploads never sent, after a day (chat.attachments)
    missed = calls_miss_overdue()  # calls rung past their time, their caller gone (chat.calls)
    if ended or assigned:
        logger.info("housekeeping: %s chats auto-ended, %s assigned", ended, len(assigned))
    counts = {
        "ended": ended,
        "woken": woken,
        "assigned": len(assigned),
        "signatures_swept": swept,
        "orphan_files": orphans,
        "calls_missed": missed,
    }
    for task in periodic_tasks:
        try:
            counts |= task()
        except Exception:
            logger.exception("housekeeping task %s failed", task.__qualname__)
    return counts


def retention_purge_if_due() -> dict[str, int] | None:
    """Purge what the retention period has passed, unless this process did within the hour or
    no retention is configured. The counts, or None if it did not run."""
    global _last_purge
    days = settings.SUPPORTDESK_RETENTION_DAYS
    now = time.monotonic()
    if days is None or (_last_purge is not None and now - _last_purge < PURGE_INTERVAL_SECONDS):
        return None
    _last_purge = now
    return conversations_purge(older_than_days=days)


def housekeeping_if_due() -> None:
    """Run housekeeping (and the retention purge, on its own hourly clock) unless this process
    ran it recently. A failing step is logged and does not keep the other from running."""
    global _last_run
    now = time.monotonic()
    if now - _last_run < settings.SUPPORTDESK_HOUSEKEEPING_SECONDS:
        return
    _last_run = now
    for step in (housekeeping, retention_purge_if_due):
        try:
            step()
        except Exception:
            logger.exception("%s failed", step.__name__)
