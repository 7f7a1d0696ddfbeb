"""Dashboard fragments, rendered from payload dicts so views and the socket share one path."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from agents import selectors
from agents.models import Agent
from agents.selectors import ConversationLists, TeamMember
from chat.consumers import TYPING_EXPIRES_SECONDS
from chat.models import Conversation, Visitor
from chat.payloads import PREVIEW_KINDS, ConversationData, conversation_data
from chat.rendering import render_shared
from chat.selectors import conversation_summary, message_page
from chat.useragent import describe_user_agent
from supportdesk.bidi import bdi

TEMPLATE = "agents/dashboard.html"

# "Alice is viewing" is hidden by colleagues' pages this long after it was last said (a socket
# that died said no goodbye; a live one says it again every VIEWING_REPEAT_SECONDS).
VIEWING_REPEAT_SECONDS = 30
VIEWING_EXPIRES_MS = 75_000
TYPING_EXPIRES_MS = int(TYPING_EXPIRES_SECONDS * 1000)


# Messages the pane opens with; "Show earlier messages" above them loads as many again. Rendering
# is most of opening a long chat (docs/PERFORMANCE.md): 40 keeps it well under 50 ms.
PANE_HISTORY = 40
# Opening a chat at a search hit: the hit, PANE_JUMP_CONTEXT messages before it and all after it,
# at most PANE_JUMP_LIMIT (beyond that the hit is above; "Show earlier messages" reaches it).
PANE_JUMP_CONTEXT = 5
PANE_JUMP_LIMIT = 200


def pane_context(
    conversation: Conversation, *, agent: Agent, at: int | None = None
) -> dict[str, Any]:
    """`conversation` as `conversation_for_agent` loads it (inbox, visitor and agent joined).
    `at` (a search hit's seq): the pane holds that message, a few before it and everything
    after, up to PANE_JUMP_LIMIT, and shows it (dashboard/reply-box.js scrolls to `found_seq`)."""
    limit = PANE_HISTORY
    if at is not None and 0 < at <= conversation.last_seq:
        limit = min(
            max(PANE_HISTORY, conversation.last_seq - at + 1 + PANE_JUMP_CONTEXT), PANE_JUMP_LIMIT
        )
    else:
        at = None
    messages, more_history = message_page(conversation_id=conversation.pk, limit=limit)
    # The preview is the newest visitor or agent message's text: the history most likely holds it.
    said = [m["body"] for m in messages if m["sender_kind"] in PREVIEW_KINDS]
    summary = (
        conversation_data(conversation, preview=said[-1])
        if said
        else conversation_summary(conversation.pk)  # one query more, for a chat of system lines
    )
    return {
        "conversation": summary,
        "messages": messages,
        "more_history": more_history,
        "found_seq": at,
        "viewer": "agent",
        "me": agent.pk,
        "transfer_targets": selectors.transfer_targets(conversation),
        "canned": selectors.canned_responses(agent=agent, inbox_id=conversation.inbox_id),
        "inbox_labels": selectors.inbox_labels([conversation.inbox_id]),
        "calls_enabled": conversation.inbox.calls_enabled,
        **context_context(conversation.visitor, conversation),
    }


def context_context(visitor: Visitor, conversation: Conversation) -> dict[str, Any]:
    """What the visitor panel beside the conversation shows."""
    return {
        "visitor": visitor,
        "browser": describe_user_agent(visitor.user_agent),
        "earlier": selectors.earlier_conversations(conversation),
        "previous_id": conversation.previous_id,
        "conversation_id": conversation.pk,
        "inbox_name": conversation.inbox.name,
        "rating": conversation.rating,
        "rating_comment": conversation.rating_comment,
        # The panel's version (a pushed copy replaces an older one): its newest change.
        "panel_version": max(
            (t for t in (visitor.context_updated_at, conversation.rated_at) if t is not None),
            default=None,
        ),
    }


def render_context(conversation: Conversation) -> str:
    return render_to_string(
        f"{TEMPLATE}#visitor_context", context_context(conversation.visitor, conversation)
    )


def render_row(conversation: ConversationData, *, me: int, unread: int) -> str:
    return render_shared(f"{TEMPLATE}#row", {"c": conversation, "me": me, "unread": unread})


def render_unread(conversation_id: int, unread: int) -> str:
    """A list row's unread badge (`data-replace`: it replaces the one in the row). Markup
    written here, once, for the template too (`{% unread_badge %}`): every dashboard socket sends
    its own count with every row, and the template engine cost more than the rest of the row's
    delivery (docs/PERFORMANCE.md)."""
    count = int(unread or 0)
    return format_html(
        '<span class="unread" id="unread-{}" data-replace data-unread="{}"{}>{}'
        '<span class="visually-hidden"> unread</span></span>',
        int(conversation_id),
        count,
        "" if count else mark_safe(" hidden"),
        count,
    )


def render_viewer(conversation_id: int, agent_id: int, name: str, viewing: bool) -> str:
    """A colleague on the chat of the pane: "Alice is viewing" (hidden once she left)."""
    text = _named(_("%(name)s is viewing"), name)
    return _collision("viewer", conversation_id, agent_id, text, viewing, VIEWING_EXPIRES_MS)


def render_typer(conversation_id: int, agent_id: int, name: str, typing: bool) -> str:
    """A colleague writing a reply in the chat of the pane (hidden when they stop)."""
    text = _named(_("%(name)s is typing a reply…"), name)
    return _collision("typer", conversation_id, agent_id, text, typing, TYPING_EXPIRES_MS)


def _named(line: str, name: str) -> SafeString:
    """A translated line with a person's name in `<bdi>`, escaped."""
    return mark_safe(escape(line) % {"name": bdi(name)})  # noqa: S308 - both parts escaped


def _collision(
    kind: str, conversation_id: int, agent_id: int, text: SafeString, shown: bool, expires_ms: int
) -> str:
    return format_html(
        '<span id="{}-{}-{}" class="collision__item collision__item--{}" data-replace'
        ' data-container="collision-{}" data-sort="{}" data-expires-ms="{}"{}>{}</span>',
        kind,
        int(conversation_id),
        int(agent_id),
        kind,
        int(conversation_id),
        int(agent_id) * 2 + (kind == "typer"),
        int(expires_ms),
        "" if shown else mark_safe(" hidden"),
        text,
    )


def render_pane_header(conversation: ConversationData, *, me: int) -> str:
    return render_shared(f"{TEMPLATE}#pane_header", {"conversation": conversation, "me": me})


def render_lists(lists: ConversationLists, *, me: int) -> str:
    return render_to_string(f"{TEMPLATE}#lists", {"lists": lists, "me": me})


def render_member(member: TeamMember, *, version: int) -> str:
    return render_to_string(f"{TEMPLATE}#member", {"m": member, "version": version})


def render_workspace_gone() -> str:
    """The workspace after the conversation it showed was deleted."""
    return render_to_string(f"{TEMPLATE}#workspace_gone")
