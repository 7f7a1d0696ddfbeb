"""Dashboard fragments whose markup lives in agents.rendering (one definition for the pages and
the sockets)."""

from __future__ import annotations

from django import template

from agents.rendering import render_unread

register = template.Library()


@register.simple_tag
def unread_badge(conversation_id: int, unread: int | None) -> str:
    """A list row's unread badge (agents.rendering.render_unread)."""
    return render_unread(conversation_id, unread or 0)
