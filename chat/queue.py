"""The waiting line of an inbox, as visitors see it: their place and an estimated wait.

The estimate is the median of the inbox's recent real waits (created -> assigned, last
QUEUE_SAMPLE chats of the past QUEUE_WINDOW), times the visitor's place in line: honest numbers
from this desk, not a promise. With no recent data there is no estimate.

Whenever the line moves (a chat joins, is taken, or ends while waiting) every widget of the inbox
gets the new order (`publish_queue`); each visitor socket picks its own place from it.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from functools import partial
from typing import TypedDict

from django.utils import timezone

from chat.events import publish_on_commit
from chat.groups import inbox_widgets_group
from chat.models import Conversation
from chat.payloads import QueueEvent

QUEUE_SAMPLE = 20
QUEUE_WINDOW = timedelta(days=7)
QUEUE_LIMIT = 500  # places beyond this are shown as "500+"


def waiting_line(inbox_id: int) -> list[int]:
    return list(
        Conversation.objects.filter(inbox_id=inbox_id, status=Conversation.Status.WAITING)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:QUEUE_LIMIT]
    )


def typical_wait_seconds(inbox_id: int) -> float | None:
    """The median wait of the inbox's recent chats that an agent took, or None."""
    recent = (
        Conversation.objects.filter(
            inbox_id=inbox_id,
            assigned_at__isnull=False,
            created_at__gte=timezone.now() - QUEUE_WINDOW,
        )
        .order_by("-assigned_at")
        .values_list("created_at", "assigned_at")[:QUEUE_SAMPLE]
    )
    waits = [(assigned - created).total_seconds() for created, assigned in recent]
    return statistics.median(waits) if waits else None


def queue_event(inbox_id: int) -> QueueEvent:
    return {
        "type": "inbox.queue",
        "inbox_id": inbox_id,
        "waiting": waiting_line(inbox_id),
        "typical_wait_seconds": typical_wait_seconds(inbox_id),
        "version": time.time_ns() // 1000,
    }


def queue_changed(inbox_id: int) -> None:
    """After commit, tell the inbox's widgets the line moved (the line read once committed)."""
    publish_on_commit([inbox_widgets_group(inbox_id)], partial(queue_event, inbox_id))


class QueuePlace(TypedDict):
    conversation_id: int
    place: int | None  # 1 = next; None: not waiting (or beyond QUEUE_LIMIT)
    estimate_minutes: int | None
    version: int


def queue_place(event: QueueEvent, conversation_id: int) -> QueuePlace:
    try:
        place: int | None = event["waiting"].index(conversation_id) + 1
    except ValueError:
        place = None
    typical = event["typical_wait_seconds"]
    estimate = None
    if place is not None and typical is not None:
        estimate = round(typical * place / 60)  # 0: under a minute
    return {
        "conversation_id": conversation_id,
        "place": place,
        "estimate_minutes": estimate,
        "version": event["version"],
    }
