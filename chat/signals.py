"""Signals chat sends for other apps, so chat does not depend on how agents are assigned."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when the answer to "who should take the waiting chats of this inbox?" may have changed:
# after commit when a chat started, ended, or changed hands (chat.services); when an agent came
# online (agents.presence). Argument: inbox_id. Assignment (agents.apps) reacts.
assignment_needed = Signal()

# Sent inside the transaction that ends a conversation, before it commits, so what a receiver
# writes commits or rolls back with the end. Arguments: conversation (locked, now ended), by (the
# agent who ended it, or None when it ended by itself) and reason ("" or "inactivity"). The
# agents' activity log (agents.apps) records it.
conversation_ended = Signal()
