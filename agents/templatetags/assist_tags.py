"""The dashboard asks whether AI assist is on (agents.assist) where it draws the reply box: a
tag, not a context variable, so every way of rendering the pane knows it."""

from __future__ import annotations

from django import template
from django.conf import settings

from agents.assist import assist_enabled

register = template.Library()


@register.simple_tag
def assist_on() -> bool:
    """Whether the desk has an AI endpoint configured (SUPPORTDESK_AI_BASE_URL and _MODEL)."""
    return assist_enabled()


@register.simple_tag
def assist_timeout_ms() -> int:
    """How long the desk waits for the endpoint, for the page's own last-resort timer."""
    return int(settings.SUPPORTDESK_AI_TIMEOUT_SECONDS * 1000)
