"""HTML fragments pushed over sockets and returned by views: one partial per thing, one path."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.template.loader import render_to_string
from django.utils import timezone, translation

from chat.hours import AvailabilityData
from chat.payloads import MessageData, visitor_copy
from chat.queue import QueuePlace

Viewer = Literal["visitor", "agent"]

SHARED_FRAGMENTS = 4096  # how many `render_shared` keeps, newest used first
_shared: OrderedDict[tuple[Any, ...], str] = OrderedDict()


class SameObjects:
    """What was derived from an object, kept while the object is the same one (`is`).

    An event from the channel layer is one dict for every socket of the process that receives
    it (supportdesk.layers), so the sockets of an inbox ask for the same derivation of the same
    dict one after another. The entry holds the object itself, so its id cannot be reused while
    the entry lives."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[int, tuple[object, Any]] = OrderedDict()

    def get(self, obj: object, derive: Callable[[Any], Any]) -> Any:
        entry = self.entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = derive(obj)
        self.entries[id(obj)] = (obj, value)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


_json_of = SameObjects(64)


def render_shared(template: str, context: dict[str, Any]) -> str:
    """`render_to_string` for a fragment that many sockets of a process send alike.

    A message in an inbox is one list row on every dashboard of that inbox, and the message
    itself on every tab that follows the chat: the same template with the same data. Rendered
    once and kept (per language and time zone, the only other inputs of these templates), the
    rest is a dictionary lookup. `context` must be plain JSON-like data: the key is its JSON,
    made once per dict the sockets share (`SameObjects`)."""
    key = (
        translation.get_language() or "",  # the same data reads differently per language
        timezone.get_current_timezone_name(),
        template,
        *(
            (name, _json_of.get(value, _dumps) if isinstance(value, dict | list) else value)
            for name, value in sorted(context.items())
        ),
    )
    html = _shared.get(key)
    if html is None:
        html = _shared[key] = render_to_string(template, context)
        while len(_shared) > SHARED_FRAGMENTS:
            _shared.popitem(last=False)
    else:
        _shared.move_to_end(key)
    return html


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def render_messages(messages: list[MessageData], *, viewer: Viewer, file_pass: str = "") -> str:
    """Messages as `viewer` sees them; a visitor's file links carry their `file_pass`
    (chat.attachments). A visitor's are their copies (`visitor_copy`): nothing meant for the
    agents alone is rendered into their HTML, whichever path it takes to them."""
    if viewer == "visitor":
        messages = [visitor_copy(m) for m in messages]
    return "".join(
        render_shared(
            "chat/_message.html#message", {"message": m, "viewer": viewer, "file_pass": file_pass}
        )
        for m in messages
    )


def render_receipt(conversation_id: int, reader: str, seq: int) -> str:
    """How far `reader` ("visitor" or "agent") has read: the other side's ticks follow it."""
    return render_shared(
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
