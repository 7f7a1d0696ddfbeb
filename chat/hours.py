"""Business hours of an inbox, and what the widget says about availability.

An inbox with no opening time is always open. Otherwise it is open on its `open_days` (ISO
weekday digits, "12345" = Monday to Friday) from `opens_at` to `closes_at` in its `time_zone`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from chat.models import Inbox


class AvailabilityData(TypedDict):
    online: bool  # open, and an agent is online to answer
    closed: bool  # outside business hours
    opens_at: str | None  # ISO, in the inbox's time zone: when it opens next (if closed)
    time_zone: str


def inbox_zone(inbox: Inbox) -> ZoneInfo:
    try:
        return ZoneInfo(inbox.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_open(inbox: Inbox, now: datetime | None = None) -> bool:
    if inbox.opens_at is None or inbox.closes_at is None:
        return True
    local = (now or timezone.now()).astimezone(inbox_zone(inbox))
    return (
        str(local.isoweekday()) in inbox.open_days
        and inbox.opens_at <= local.time() < inbox.closes_at
    )


def next_opening(inbox: Inbox, now: datetime | None = None) -> datetime | None:
    """When the inbox opens next (in its time zone), or None if it is open or never opens."""
    if inbox.opens_at is None or inbox.closes_at is None or is_open(inbox, now):
        return None
    local = (now or timezone.now()).astimezone(inbox_zone(inbox))
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        opening = datetime.combine(day, inbox.opens_at, tzinfo=local.tzinfo)
        if str(day.isoweekday()) in inbox.open_days and opening > local:
            return opening
    return None


def availability(inbox: Inbox, *, agent_online: bool) -> AvailabilityData:
    opening = next_opening(inbox)
    closed = not is_open(inbox)
    return {
        "online": agent_online and not closed,
        "closed": closed,
        "opens_at": opening.isoformat() if opening else None,
        "time_zone": str(inbox_zone(inbox)),
    }
