"""Dashboard fragments, rendered from payload dicts so views and the socket share one path."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from chat.events import ConversationData
from chat.models import Conversation
from chat.selectors import conversation_summary, message_history


def pane_context(conversation: Conversation) -> dict[str, Any]:
    summary = conversation_summary(conversation.pk)
    return {
        "conversation": summary,
        "messages": message_history(conversation_id=conversation.pk),
        "viewer": "agent",
        "visitor": conversation.visitor,
        "earlier": conversation.visitor.conversations.exclude(pk=conversation.pk).count(),
        "previous_id": conversation.previous_id,
    }


def render_row(conversation: ConversationData) -> str:
    return render_to_string("agents/dashboard.html#row", {"c": conversation})


def render_pane_header(conversation: ConversationData) -> str:
    return render_to_string("agents/dashboard.html#pane_header", {"conversation": conversation})


def render_lists(lists: dict[str, list[ConversationData]]) -> str:
    return render_to_string("agents/dashboard.html#lists", {"lists": lists})
