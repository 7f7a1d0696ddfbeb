"""HTML fragments pushed over sockets and returned by views: one partial per thing, one path."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.template.loader import render_to_string

from chat.events import MessageData
from chat.hours import AvailabilityData
from chat.queue import QueuePlace

Viewer = Literal["visitor", "agent"]


def render_messages(messages: list[MessageData], *, viewer: Viewer) -> str:
    return "".join(
        render_to_string("chat/_message.html#message", {"message": m, "viewer": viewer})
        for m in messages
    )


def render_receipt(conversation_id: int, reader: str, seq: int) -> str:
    """How far `reader` ("visitor" or "agent") has read: the other side's ticks follow it."""
    return render_to_string(
        "chat/_message.html#receipt",
        {"conversation_id": conversation_id, "reader": reader, "seq": seq},
    )


def render_queue(place: QueuePlace) -> str:
    """The visitor's place in line and the estimated wait, under a waiting conversation."""
    return render_to_string("chat/widget/page.html#queue", {"q": place})


def render_availability(data: AvailabilityData, *, version: int) -> str:
    """Whether anyone can answer now; if closed, when the inbox opens (in its own time zone)."""
    opens_at = datetime.fromisoformat(data["opens_at"]) if data["opens_at"] else None
    return render_to_string(
        "chat/widget/page.html#availability",
        {"a": data, "opens_at": opens_at, "version": version},
    )
