"""Event payloads and publishing.

Every change a client must see is a message with a per-conversation `seq` (a visitor's text, an
agent's reply, or a system line such as "Alice joined the chat"), so one event type carries all of
them, with the conversation's new state. Payloads are plain JSON types, so they survive the
channel layer and the consumers render them with the same partials the HTTP views use.

Only services call `publish_on_commit`; Redis is a doorbell, the database is the record: a failed
publish is logged and clients catch up from the database when they resume.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

from django.db import transaction
from django.db.models import OuterRef, QuerySet

from chat.groups import inbox_group, visitor_group
from chat.models import Conversation, Message, visitor_display_name
from supportdesk import publisher
from supportdesk.metrics import MESSAGES

PREVIEW_LENGTH = 120


class MessageData(TypedDict):
    id: int
    conversation_id: int
    seq: int
    sender_kind: str
    author_name: str
    body: str
    client_id: str | None
    created_at: str


class ConversationData(TypedDict):
    id: int
    inbox_id: int
    inbox_name: str
    visitor_id: int
    visitor_name: str
    status: str
    assigned_agent_id: int | None
    assigned_agent_name: str
    created_at: str
    last_seq: int
    last_message_at: str | None
    preview: str
    visitor_read_seq: int
    agent_read_seq: int
    rating: int | None


class ChatMessageEvent(TypedDict):
    # Channels maps "chat.message" to the consumer method `chat_message`.
    type: Literal["chat.message"]
    message: MessageData
    conversation: ConversationData
    # Wall-clock time of the publish (on commit): consumers measure delivery latency from it.
    published_at: NotRequired[float]


def message_data(message: Message) -> MessageData:
    """Serialize a message; needs `author_agent` and `conversation.visitor` (select_related)."""
    if message.author_agent is not None:  # a reply or an internal note
        author_name = message.author_agent.display_name
    elif message.sender_kind == Message.SenderKind.VISITOR:
        author_name = message.conversation.visitor.display_name
    else:
        author_name = ""
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender_kind": message.sender_kind,
        "author_name": author_name,
        "body": message.body,
        "client_id": str(message.client_id) if message.client_id else None,
        "created_at": message.created_at.isoformat(),
    }


def conversation_data(conversation: Conversation, *, preview: str | None) -> ConversationData:
    """Serialize a conversation; needs `inbox`, `visitor` and `assigned_agent` loaded."""
    agent = conversation.assigned_agent
    return {
        "id": conversation.pk,
        "inbox_id": conversation.inbox_id,
        "inbox_name": conversation.inbox.name,
        "visitor_id": conversation.visitor_id,
        "visitor_name": conversation.visitor.display_name,
        "status": conversation.status,
        "assigned_agent_id": agent.pk if agent else None,
        "assigned_agent_name": agent.display_name if agent else "",
        "created_at": conversation.created_at.isoformat(),
        "last_seq": conversation.last_seq,
        "last_message_at": (
            conversation.last_message_at.isoformat() if conversation.last_message_at else None
        ),
        "preview": (preview or "")[:PREVIEW_LENGTH],
        "visitor_read_seq": conversation.visitor_read_seq,
        "agent_read_seq": conversation.agent_read_seq,
        "rating": conversation.rating,
    }


# The columns `conversation_row` reads, for `.values()` on a queryset annotated with `preview`.
CONVERSATION_VALUES = (
    "id", "inbox_id", "inbox__name", "visitor_id", "visitor__name", "visitor__email", "status",
    "assigned_agent_id", "assigned_agent__display_name", "created_at", "last_seq",
    "last_message_at", "preview", "visitor_read_seq", "agent_read_seq", "rating",
)  # fmt: skip


def conversation_row(row: Mapping[str, Any]) -> ConversationData:
    """`conversation_data` from a `.values(*CONVERSATION_VALUES)` row: the dashboard's lists
    serialize hundreds of rows, and four model instances a row cost more than the query."""
    last_message_at = row["last_message_at"]
    return {
        "id": row["id"],
        "inbox_id": row["inbox_id"],
        "inbox_name": row["inbox__name"],
        "visitor_id": row["visitor_id"],
        "visitor_name": visitor_display_name(
            row["visitor_id"], row["visitor__name"], row["visitor__email"]
        ),
        "status": row["status"],
        "assigned_agent_id": row["assigned_agent_id"],
        "assigned_agent_name": row["assigned_agent__display_name"] or "",
        "created_at": row["created_at"].isoformat(),
        "last_seq": row["last_seq"],
        "last_message_at": last_message_at.isoformat() if last_message_at else None,
        "preview": (row["preview"] or "")[:PREVIEW_LENGTH],
        "visitor_read_seq": row["visitor_read_seq"],
        "agent_read_seq": row["agent_read_seq"],
        "rating": row["rating"],
    }


# A list row's preview is what the visitor or an agent last wrote: a system line ("Alice joined
# the chat.") or an internal note says nothing about what the chat is about.
PREVIEW_KINDS = (Message.SenderKind.VISITOR, Message.SenderKind.AGENT)


def previewable(conversation: Conversation | OuterRef) -> QuerySet[Message]:
    """A conversation's PREVIEW_KINDS messages, newest first (the (conversation, seq) index);
    `conversation` may be an OuterRef, for a subquery per row."""
    return Message.objects.filter(
        conversation=conversation, sender_kind__in=PREVIEW_KINDS
    ).order_by("-seq")


def chat_message_event(message: Message) -> ChatMessageEvent:
    conversation = message.conversation
    if message.sender_kind in PREVIEW_KINDS:
        preview = message.body
    else:  # one query, for the (rare) system lines and notes
        preview = previewable(conversation).values_list("body", flat=True).first()
    return {
        "type": "chat.message",
        "message": message_data(message),
        "conversation": conversation_data(conversation, preview=preview),
    }


def publish_on_commit(message: Message) -> None:
    """Publish `message` (and its conversation's state) once the surrounding transaction commits.

    The payload is built now, inside the transaction, so it shows exactly what was committed.
    A rolled-back transaction discards the callback: nothing is published.
    """
    event = chat_message_event(message)
    transaction.on_commit(lambda: publish(event))


def publish(event: ChatMessageEvent) -> None:
    MESSAGES.labels(sender=event["message"]["sender_kind"]).inc()
    event = {**event, "published_at": time.time()}
    conversation = event["conversation"]
    publish_event([inbox_group(conversation["inbox_id"])], event)
    publish_event([visitor_group(conversation["visitor_id"])], for_visitor(event))


def for_visitor(event: ChatMessageEvent) -> ChatMessageEvent:
    """The event as the visitor's sockets may see it: an internal note keeps its seq (their
    cursor stays gap-free) but its text and author never leave the agents' side."""
    if event["message"]["sender_kind"] != Message.SenderKind.NOTE:
        return event
    return {
        **event,
        "message": {**event["message"], "body": "", "author_name": ""},
        "conversation": {**event["conversation"], "preview": ""},
    }


class ConversationsDeletedEvent(TypedDict):
    """Conversations erased with their visitor, or purged by retention: dashboards drop them."""

    type: Literal["conversations.deleted"]
    conversation_ids: list[int]


class VisitorSignedOutEvent(TypedDict):
    """The visitor's tokens no longer hold (erased, or signed out everywhere by an admin): their
    open widgets close, drop the token and start afresh."""

    type: Literal["visitor.signed_out"]
    visitor_id: int


def visitor_signed_out_event(visitor_id: int) -> VisitorSignedOutEvent:
    return {"type": "visitor.signed_out", "visitor_id": visitor_id}


def publish_deletions_on_commit(
    conversations: Sequence[tuple[int, int]], visitor_ids: Sequence[int] = ()
) -> None:
    """Once the deletion commits, tell each inbox's dashboards which of its conversations
    (`(id, inbox_id)` pairs) are gone, and each erased visitor's sockets that they are."""
    by_inbox: dict[int, list[int]] = {}
    for conversation_id, inbox_id in conversations:
        by_inbox.setdefault(inbox_id, []).append(conversation_id)
    rings: list[tuple[list[str], Mapping[str, Any]]] = []
    for inbox_id, ids in by_inbox.items():
        deleted: ConversationsDeletedEvent = {
            "type": "conversations.deleted",
            "conversation_ids": ids,
        }
        rings.append(([inbox_group(inbox_id)], deleted))
    for visitor_id in visitor_ids:
        rings.append(([visitor_group(visitor_id)], visitor_signed_out_event(visitor_id)))

    def ring() -> None:
        for groups, event in rings:
            publish_event(groups, event)

    if rings:
        transaction.on_commit(ring)


def publish_event(groups: list[str], event: Mapping[str, Any]) -> None:
    """Ring `groups` from sync code, without waiting (supportdesk.publisher). Never raises: the
    write it announces is committed, and sockets that missed the ring catch up from the
    database when they resync."""
    publisher.publish(groups, event)


# Async code that must know the ring went out (a socket's typing, its read marks) awaits it.
send_to_groups = publisher.send_to_groups
