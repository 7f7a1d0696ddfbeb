"""Reads of the bots' configuration."""

from __future__ import annotations

from bots.models import Bot


def inbox_has_active_bot(inbox_id: int) -> bool:
    """Whether the inbox's new conversations start with its bot (one indexed query: the
    OneToOne's unique index), asked once per new conversation."""
    return Bot.objects.filter(inbox_id=inbox_id, is_active=True).exists()


def active_bot(inbox_id: int) -> Bot | None:
    """The inbox's active bot with its rules in order (two queries), or None."""
    return Bot.objects.filter(inbox_id=inbox_id, is_active=True).prefetch_related("rules").first()
