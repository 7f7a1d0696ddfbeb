"""Signals chat sends for other apps, so chat does not depend on how agents are assigned."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when the answer to "who should take the waiting chats of this inbox?" may have changed:
# after commit when a chat started, ended, or changed hands (chat.services); when an agent came
# online (agents.presence). Argument: inbox_id. Assignment (agents.apps) reacts.
assignment_needed = Signal()
