"""Periodic work no single request triggers: stale presence, inboxes opening or closing,
auto-end, the assignment queue.

Dashboard sockets run it on their heartbeats, at most every SUPPORTDESK_HOUSEKEEPING_SECONDS per
server process, so a desk with anyone at work needs no scheduler. `manage.py housekeeping` runs
the same from cron for desks where nobody is connected (auto-end still happens overnight).
Every step is idempotent and safe to run concurrently from several processes.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from agents.assignment import auto_assign
from agents.presence import presence_sweep, publish_opening_changes
from chat.models import Conversation, Inbox
from chat.services import conversations_auto_end

logger = logging.getLogger(__name__)

_last_run = 0.0


def housekeeping() -> dict[str, int]:
    presence_sweep()
    publish_opening_changes()
    ended = conversations_auto_end()
    queued = (
        Conversation.objects.filter(
            status=Conversation.Status.WAITING, inbox__assignment=Inbox.Assignment.AUTO
        )
        .values_list("inbox_id", flat=True)
        .distinct()
    )
    assigned = auto_assign(inbox_ids=list(queued))
    if ended or assigned:
        logger.info("housekeeping: %s chats auto-ended, %s assigned", ended, len(assigned))
    return {"ended": ended, "assigned": len(assigned)}


def housekeeping_if_due() -> None:
    """Run housekeeping unless this process ran it recently."""
    global _last_run
    now = time.monotonic()
    if now - _last_run < settings.SUPPORTDESK_HOUSEKEEPING_SECONDS:
        return
    _last_run = now
    try:
        housekeeping()
    except Exception:
        logger.exception("housekeeping failed")
