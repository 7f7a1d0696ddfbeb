"""What travels between processes: every event on the channel layer, as TypedDicts, and the
serializers that make them. The transport is `chat.events`; the protocol is docs/PROTOCOL.md.

Every change a client must see is a message with a per-conversation `seq` (a visitor's text, an
agent's reply, or a system line such as "Alice joined the chat"), so one event type carries all of
them, with the conversation's new state. Payloads are plain JSON types, so they survive the
channel layer and the consumers render them with the same partials the HTTP views use.

The agents' events (`agent.*`) are typed here too, so the publishing seam takes one `Event`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from django.db import connection
from django.db.models import (
    Case,
    F,
    Model,
    OuterRef,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat

from chat.hours import AvailabilityData
from chat.models import Attachment, Conversation, Label, Message, visitor_display_name

PREVIEW_LENGTH = 120

Presence = Literal["online", "away", "offline"]


class AttachmentData(TypedDict):
    key: str
    name: str
    content_type: str
    size: int
    image: bool  # shown inline, with its thumbnail (width and height of the stored image)
    width: int | None
    height: int | None


class MessageData(TypedDict):
    id: int
    conversation_id: int
    seq: int
    sender_kind: str
    author_name: str
    body: str  # empty for a message of files alone
    client_id: str | None
    created_at: str
    attachments: list[AttachmentData]
    # A bot's message only: the answers it suggests (buttons under it in the widget).
    quick_replies: NotRequired[list[str]]
    # A line for the agents alone only (Message.Audience.AGENTS): what the visitor sees of it
    # instead ("" nothing). Its presence is the mark: `visitor_copy` reads it.
    visitor_body: NotRequired[str]
    # An agent's reply only: who wrote it, for their face beside it in the widget.
    author_id: NotRequired[int]


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
    # Triage (the dashboard's rows): since when the visitor waits for the team (in the queue:
    # since the chat started; open: since their unanswered message; else None), the chat's
    # labels by name, and its snooze (None: not snoozed; "" until the visitor writes).
    waiting_since: str | None
    labels: list[LabelData]
    snoozed_until: str | None


class LabelData(TypedDict):
    id: int
    name: str
    color: str


class ChatMessageEvent(TypedDict):
    # Channels maps "chat.message" to the consumer method `chat_message`.
    type: Literal["chat.message"]
    message: MessageData
    conversation: ConversationData
    # Wall-clock time of the publish (on commit): consumers measure delivery latency from it.
    published_at: NotRequired[float]


class ReadEvent(TypedDict):
    type: Literal["chat.read"]
    conversation_id: int
    reader: Literal["visitor", "agent"]
    seq: int


class TypingEvent(TypedDict):
    """Relayed by a socket at once; never stored."""

    type: Literal["chat.typing"]
    conversation_id: int
    sender: str  # "visitor.<id>" or "agent.<id>": the typist's own sockets ignore it
    name: str
    state: str  # "typing" or "idle"


class VisitorContextEvent(TypedDict):
    """The visitor's page, browser or rating changed: dashboards refresh the panel."""

    type: Literal["visitor.context"]
    visitor_id: int
    inbox_id: int


class QueueEvent(TypedDict):
    type: Literal["inbox.queue"]
    inbox_id: int
    waiting: list[int]  # conversation ids, first in line first
    typical_wait_seconds: float | None
    version: int


class AvailabilityEvent(TypedDict):
    type: Literal["inbox.availability"]
    inbox_id: int
    availability: AvailabilityData
    version: int  # milliseconds; a newer state replaces an older one, never the reverse


class ConversationsDeletedEvent(TypedDict):
    """Conversations erased with their visitor, or purged by retention: dashboards drop them."""

    type: Literal["conversations.deleted"]
    conversation_ids: list[int]


class VisitorSignedOutEvent(TypedDict):
    """The visitor's tokens no longer hold (erased, or signed out everywhere by an admin): their
    open widgets close, drop the token and start afresh."""

    type: Literal["visitor.signed_out"]
    visitor_id: int


class PresenceEvent(TypedDict):
    type: Literal["agent.presence"]
    agent_id: int
    name: str
    presence: Presence
    version: int  # milliseconds; a newer state replaces an older one, never the reverse


class AgentReadEvent(TypedDict):
    """An agent read a conversation in one tab: their other tabs recount its unread."""

    type: Literal["agent.read"]
    conversation_id: int
    seq: int


class AgentViewingEvent(TypedDict):
    """An agent's pane opened (`viewing`) or left (`left`) a chat: colleagues with it open show
    "Alice is viewing". Relayed at once, never stored; `reply` marks an answer to a newcomer's
    announcement (not answered again)."""

    type: Literal["agent.viewing"]
    conversation_id: int
    agent_id: int
    name: str
    state: Literal["viewing", "left"]
    reply: bool


class AgentChangedEvent(TypedDict):
    """An agent's account, role or inboxes changed: their sockets check their rights again."""

    type: Literal["agent.changed"]


class AgentLoggedOutEvent(TypedDict):
    """An agent logged out: the sockets of that session close."""

    type: Literal["agent.logged_out"]
    session_key: str


Event = (
    ChatMessageEvent
    | ReadEvent
    | TypingEvent
    | VisitorContextEvent
    | QueueEvent
    | AvailabilityEvent
    | ConversationsDeletedEvent
    | VisitorSignedOutEvent
    | PresenceEvent
    | AgentReadEvent
    | AgentViewingEvent
    | AgentChangedEvent
    | AgentLoggedOutEvent
)


def attachment_data(attachment: Attachment) -> AttachmentData:
    return {
        "key": attachment.key,
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "image": attachment.is_image,
        "width": attachment.width,
        "height": attachment.height,
    }


def message_data(message: Message, attachments: Iterable[Attachment] | None = None) -> MessageData:
    """Serialize a message; needs `author_agent` and `conversation.visitor` (select_related),
    and its `attachments` (given, or prefetched: else one query)."""
    if attachments is None:
        attachments = message.attachments.all()
    if message.author_agent is not None:  # a reply or an internal note
        author_name = message.author_agent.display_name
    elif message.sender_kind == Message.SenderKind.VISITOR:
        author_name = message.conversation.visitor.display_name
    else:
        author_name = message.author_label  # a bot's name; "" for a system line
    data: MessageData = {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "sender_kind": message.sender_kind,
        "author_name": author_name,
        "body": message.body,
        "client_id": str(message.client_id) if message.client_id else None,
        "created_at": message.created_at.isoformat(),
        "attachments": [attachment_data(a) for a in attachments],
    }
    if message.sender_kind == Message.SenderKind.BOT:
        data["quick_replies"] = message.quick_replies.splitlines()
    if message.audience == Message.Audience.AGENTS:
        data["visitor_body"] = message.visitor_body
    if message.author_agent_id is not None and message.sender_kind == Message.SenderKind.AGENT:
        data["author_id"] = message.author_agent_id  # their face in the widget (chat.faces)
    return data


def visitor_copy(message: MessageData) -> MessageData:
    """A message as the visitor may receive it: the same dict for most; an internal note, or a
    line for the agents alone without a version for the visitor, an empty placeholder that
    keeps its seq (their cursor stays gap-free, and nothing of it leaves the agents' side); an
    agents' line with one ("You're now chatting with Alice."), that version. Every path to a
    visitor goes through here: the live event (`for_visitor`) and everything rendered for them
    (chat.rendering.render_messages: history, catch-up, acks)."""
    if "visitor_body" in message:
        shown = message["visitor_body"]
        copy: MessageData = {
            **message,
            "sender_kind": Message.SenderKind.SYSTEM if shown else Message.SenderKind.NOTE,
            "body": shown,
            "author_name": "",
            "attachments": [],
        }
        del copy["visitor_body"]
        return copy
    if message["sender_kind"] == Message.SenderKind.NOTE:
        return {**message, "body": "", "author_name": "", "attachments": []}
    return message


# A conversation's columns, as `.values()` names them: what `conversation_row` reads. The lists
# read them straight from a queryset annotated with `preview`; `conversation_data` reads the same
# names off a loaded conversation; the message fast path (chat.posting) off its RETURNING row.
CONVERSATION_VALUES = (
    "id", "inbox_id", "inbox__name", "visitor_id", "visitor__name", "visitor__email", "status",
    "assigned_agent_id", "assigned_agent__display_name", "created_at", "last_seq",
    "last_message_at", "preview", "visitor_read_seq", "agent_read_seq", "rating",
    "last_visitor_message_at", "last_agent_message_at", "snoozed_at", "snoozed_until",
    "labels_json",
)  # fmt: skip


def labels_sql(conversation: str) -> str:
    """SQL of a conversation's labels as JSON text, `[[id, name, colour], ...]` (`labels_json`);
    `conversation` names its table (or alias). A scalar subquery, for `.annotate(RawSQL)` and
    the message fast path's RETURNING (chat.posting) alike."""
    label, through = Label._meta.db_table, Conversation.labels.through._meta.db_table
    rows = f"{label} JOIN {through} ON {through}.label_id = {label}.id"
    where = f"{through}.conversation_id = {conversation}.id"
    if connection.vendor == "postgresql":
        pairs = f"json_build_array({label}.id, {label}.name, {label}.color)"
        return f"(SELECT COALESCE(json_agg({pairs}), '[]')::text FROM {rows} WHERE {where})"  # noqa: S608
    pairs = f"json_array({label}.id, {label}.name, {label}.color)"
    return f"(SELECT json_group_array({pairs}) FROM {rows} WHERE {where})"  # noqa: S608


def with_labels(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate `labels_json` (`labels_sql`) for `conversation_row`."""
    sql = labels_sql(Conversation._meta.db_table)  # names from the models' meta, no values
    return queryset.annotate(labels_json=RawSQL(sql, (), output_field=TextField()))  # noqa: S611


def labels_from_json(value: object) -> list[LabelData]:
    """`labels_json` as ConversationData holds it, sorted by name (either database's JSON)."""
    rows = json.loads(value) if isinstance(value, str) else (value or [])
    labels: list[LabelData] = [{"id": i, "name": n, "color": c} for i, n, c in rows]
    return sorted(labels, key=lambda label: (label["name"].casefold(), label["id"]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def waiting_since(row: Mapping[str, Any]) -> datetime | None:
    """Since when the visitor waits for the team: in the queue, since the chat started; in an
    open chat, since their message nobody answered yet; else not (None)."""
    if row["status"] == Conversation.Status.WAITING:
        return row["created_at"]
    if row["status"] == Conversation.Status.ENDED:
        return None
    visitor, agent = row.get("last_visitor_message_at"), row.get("last_agent_message_at")
    return visitor if visitor and (agent is None or agent < visitor) else None


def conversation_row(row: Mapping[str, Any]) -> ConversationData:
    """The one serializer of a conversation, from its CONVERSATION_VALUES: the dashboard's lists
    serialize hundreds of `.values()` rows, and four model instances a row cost more than the
    query."""
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
        "waiting_since": _iso(waiting_since(row)),
        "labels": labels_from_json(row.get("labels_json")),
        "snoozed_until": (
            None if row.get("snoozed_at") is None else _iso(row.get("snoozed_until")) or ""
        ),
    }


def _follow(instance: Model, path: str) -> Any:
    """`inbox__name` read off a loaded model, as `.values()` reads it (None past a null)."""
    value: Any = instance
    for name in path.split("__"):
        if value is None:
            return None
        value = getattr(value, name)
    return value


def conversation_data(conversation: Conversation, *, preview: str | None) -> ConversationData:
    """`conversation_row` of a loaded conversation; needs `inbox`, `visitor` and
    `assigned_agent` loaded."""
    row = {
        name: _follow(conversation, name)
        for name in CONVERSATION_VALUES
        if name not in ("preview", "labels_json")
    }
    # Annotated by `with_labels` (chat.selectors.with_preview), else read (one query).
    labels = getattr(conversation, "labels_json", None)
    if labels is None:
        labels = [list(r) for r in conversation.labels.values_list("id", "name", "color")]
    return conversation_row({**row, "preview": preview, "labels_json": labels})


# A list row's preview is what the visitor, an agent or the bot last wrote: a system line ("Alice
# joined the chat.") or an internal note says nothing about what the chat is about.
PREVIEW_KINDS = (Message.SenderKind.VISITOR, Message.SenderKind.AGENT, Message.SenderKind.BOT)


def message_preview(body: str, attachments: list[AttachmentData]) -> str:
    """A list row's preview of a message: its text, or for files alone the first one's name,
    "📎 invoice.pdf" (as `previewable` reads it in SQL)."""
    if body or not attachments:
        return body
    return FILE_MARK + attachments[0]["name"]


FILE_MARK = "📎 "


def previewable(conversation: Conversation | OuterRef) -> QuerySet[Message]:
    """A conversation's PREVIEW_KINDS messages, newest first (the (conversation, seq) index),
    each with its `preview_text` (`message_preview`); `conversation` may be an OuterRef, for a
    subquery per row."""
    first_file = Attachment.objects.filter(message=OuterRef("pk")).order_by("position")
    return (
        Message.objects.filter(conversation=conversation, sender_kind__in=PREVIEW_KINDS)
        .annotate(
            preview_text=Case(
                When(
                    body="",
                    then=Concat(
                        Value(FILE_MARK),
                        Subquery(first_file.values("name")[:1]),
                        output_field=TextField(),
                    ),
                ),
                default=F("body"),
                # The body's own field: it decrypts what it reads (supportdesk.cryptofields).
                output_field=Message._meta.get_field("body"),
            )
        )
        .order_by("-seq")
    )


def chat_message_event(
    message: Message, attachments: Iterable[Attachment] | None = None
) -> ChatMessageEvent:
    """The event of a stored message (`attachments` as for `message_data`)."""
    conversation = message.conversation
    data = message_data(message, attachments)
    if message.sender_kind in PREVIEW_KINDS:
        preview = message_preview(data["body"], data["attachments"])
    else:  # one query, for the (rare) system lines and notes
        preview = previewable(conversation).values_list("preview_text", flat=True).first()
    return {
        "type": "chat.message",
        "message": data,
        "conversation": conversation_data(conversation, preview=preview),
    }


def for_visitor(event: ChatMessageEvent) -> ChatMessageEvent:
    """The event as the visitor's sockets may see it (`visitor_copy`): an internal note or a
    line for the agents alone keeps its seq, but its text and author never leave the agents'
    side."""
    message = visitor_copy(event["message"])
    if message is event["message"]:
        return event
    return {**event, "message": message, "conversation": {**event["conversation"], "preview": ""}}


def visitor_signed_out_event(visitor_id: int) -> VisitorSignedOutEvent:
    return {"type": "visitor.signed_out", "visitor_id": visitor_id}


def conversations_deleted_event(conversation_ids: list[int]) -> ConversationsDeletedEvent:
    return {"type": "conversations.deleted", "conversation_ids": conversation_ids}
