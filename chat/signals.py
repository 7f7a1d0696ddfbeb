"""Signals chat sends for other apps, so chat does not depend on how agents are assigned."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.dispatch import Signal

from chat.models import Message

if TYPE_CHECKING:
    from chat.payloads import ChatMessageEvent

# Sent when the answer to "who should take the waiting chats of this inbox?" may have changed:
# after commit when a chat started, ended, or changed hands (chat.services); when an agent came
# online (agents.presence). Argument: inbox_id. Assignment (agents.apps) reacts.
assignment_needed = Signal()

# Sent inside the transaction that ends a conversation, before it commits, so what a receiver
# writes commits or rolls back with the end. Arguments: conversation (locked, now ended), by (the
# agent who ended it, or None when it ended by itself) and reason ("" or "inactivity"). The
# agents' activity log (agents.apps) records it.
conversation_ended = Signal()

# The signals below are sent inside the transaction of the change, before it commits, like
# `conversation_ended`: what a receiver writes (the webhooks' outbox rows) commits or rolls back
# with the change. With no receiver connected, sending one costs next to nothing, which matters
# on the message path. A receiver must not publish or do I/O: it writes rows, or registers
# on-commit work.

# A visitor's conversation was created (chat.services.conversation_start), before its first
# message. Argument: conversation (new, `seq` 0; `inbox` and `visitor` may not be loaded).
conversation_started = Signal()

# A message was stored: a visitor's, an agent's reply, a system line or an internal note
# (chat.services.append_message, and the two-statement fast path chat.posting). Argument:
# event (the `chat.payloads.ChatMessageEvent` that is published on commit: the message and the
# conversation after it, JSON types). Receivers must not change it; notes have sender_kind "note".
message_stored = Signal()

# A conversation got an agent (agents.services: a claim, automatic or admin assignment, a
# transfer), sent with the row lock held and before the "Alice joined" line is stored.
# Arguments: conversation (locked, now active; `inbox`, `visitor`, `assigned_agent` loaded),
# agent (the new one), by (the agent who transferred it, else None) and how ("claim": a waiting
# chat taken, by its agent or by automatic assignment; "assign"; "transfer").
conversation_assigned = Signal()

# A visitor rated an ended conversation, or rated it again (chat.services.conversation_rate).
# Argument: conversation (locked, with its new rating, rating_comment and rated_at).
conversation_rated = Signal()

# A visitor's message to a conversation with the bot (status "bot") was committed: the bot's
# turn (chat.services.append_message and the fast path chat.posting send it, through
# `bot_turn_on_commit`). Unlike the signals above it is sent after the commit, and after the
# message's own publish, so the bot's answer (a transaction of its own) follows the message it
# answers everywhere. Argument: event (the message's `chat.payloads.ChatMessageEvent`). The
# bots' app (bots.apps) answers it. A conversation not with the bot costs a comparison, no more.
visitor_wrote_to_bot = Signal()


def bot_turn_on_commit(event: ChatMessageEvent) -> None:
    """Send `visitor_wrote_to_bot` once the surrounding transaction commits (robust: the
    visitor's message is stored whatever the bot does; a failure is logged)."""
    transaction.on_commit(
        partial(visitor_wrote_to_bot.send, sender=Message, event=event), robust=True
    )


# A call (chat.calls) ended: hung up, declined, missed, or ended with its chat. Sent inside the
# transaction that ends it, with the conversation's lock held. Arguments: call (ended, with its
# `status`, `ended_by` and times) and conversation. The agents' activity log (agents.apps)
# records it.
call_finished = Signal()
