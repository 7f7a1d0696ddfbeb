"""Where an event leaves a process: the one seam. Payloads are `chat.payloads`; the transport
underneath is `supportdesk.publisher` (queued on the server's loop, never waiting for Redis).

- `publish_on_commit(groups, event)`: after the surrounding transaction commits; at once when
  there is none (autocommit); never after a rollback. Every write announces itself this way, so
  no client sees what was not stored. `event` may be a function that makes it, called after the
  commit, for an event that reads the committed state (the queue's line).
- `publish_now(groups, event)`: at once, for what no transaction holds: a socket relaying typing
  or a read mark, presence, a logout.
- `publish_message_on_commit(event)`: a message to its audiences (the agents' side whole, the
  visitor's redacted: `payloads.for_visitor`), through `publish_on_commit`, counted once.

Redis is a doorbell, the database is the record: a failed ring is logged and counted, never
raised, and clients catch up from the database when they resync.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

from django.db import transaction

from chat.groups import inbox_group, visitor_group
from chat.payloads import ChatMessageEvent, Event, for_visitor
from supportdesk import publisher
from supportdesk.metrics import MESSAGES


def publish_on_commit(groups: Sequence[str], event: Event | Callable[[], Event]) -> None:
    """Ring `groups` with `event` once the surrounding transaction commits (see the module)."""
    transaction.on_commit(partial(publish_now, list(groups), event))


def publish_now(groups: Sequence[str], event: Event | Callable[[], Event]) -> None:
    """Ring `groups` with `event` now, from any thread, without waiting (see the module)."""
    made = event() if callable(event) else event
    if made["type"] == "chat.message":
        # The delivery-latency clock (supportdesk.metrics.delivered) starts when it leaves.
        made = {**made, "published_at": time.time()}
    publisher.publish(list(groups), made)


def publish_message_on_commit(event: ChatMessageEvent) -> None:
    """A message's event, built inside the transaction (so it shows what was committed), to the
    conversation's inbox and, redacted, to its visitor, once the transaction commits."""
    conversation = event["conversation"]
    publish_on_commit([inbox_group(conversation["inbox_id"])], event)
    publish_on_commit([visitor_group(conversation["visitor_id"])], for_visitor(event))
    transaction.on_commit(MESSAGES.labels(sender=event["message"]["sender_kind"]).inc)
