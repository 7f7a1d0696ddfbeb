"""Reads of the bots' configuration."""

from __future__ import annotations

from typing import NamedTuple

from bots.models import Bot
from webhooks.models import Event, WebhookEndpoint


def inbox_has_active_bot(inbox_id: int) -> bool:
    """Whether the inbox's new conversations start with its bot (one indexed query: the
    OneToOne's unique index), asked once per new conversation."""
    return Bot.objects.filter(inbox_id=inbox_id, is_active=True).exists()


def active_bot(inbox_id: int) -> Bot | None:
    """The inbox's active bot with its rules in order (two queries), or None."""
    return Bot.objects.filter(inbox_id=inbox_id, is_active=True).prefetch_related("rules").first()


class WebhookBotSetup(NamedTuple):
    endpoints: list[WebhookEndpoint]  # the inbox's active endpoints taking `bot.turn`
    tokens: int  # the bot's live API tokens


def webhook_bot_setup(bot: Bot) -> WebhookBotSetup:
    """What a webhook bot has of what it needs (the bot's admin page)."""
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(inbox_id=bot.inbox_id, is_active=True)
        if e.wants(Event.BOT_TURN)
    ]
    return WebhookBotSetup(endpoints, bot.api_tokens.filter(revoked_at__isnull=True).count())
