"""Signals chat sends for other apps, so chat does not depend on how agents are assigned."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit when the answer to "who should take the waiting chats of this inbox?" may
# have changed: a chat started, ended, or changed hands. Argument: inbox_id.
assignment_needed = Signal()
