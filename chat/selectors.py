"""Reads that need care: keyset pagination over messages, a visitor's conversation."""

from __future__ import annotations

from typing import TypedDict

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Substr

from chat.models import Conversation, Inbox, Message, Visitor
from chat.payloads import (
    PREVIEW_LENGTH,
    ConversationData,
    MessageData,
    conversation_data,
    message_data,
    previewable,
    with_labels,
)
from supportdesk import crypto
from supportdesk.cryptofields import EncryptedTextField

HISTORY_LIMIT = 100
# A list row's preview as read: the body decrypted (when a key is set), then cut.
PREVIEW = EncryptedTextField(aad="chat.Message.body", preview_chars=PREVIEW_LENGTH)
RESUME_BATCH = 200


def inbox_by_public_key(public_key: str) -> Inbox | None:
    if "\x00" in public_key:  # no key has one, and PostgreSQL refuses it in a query (a 500)
        return None
    return Inbox.objects.filter(public_key=public_key).first()


def visitor_latest_conversation(visitor: Visitor) -> Conversation | None:
    return (
        Conversation.objects.select_related("inbox", "visitor", "assigned_agent")
        .filter(visitor=visitor)
        .order_by("-created_at", "-pk")
        .first()
    )


def _messages(conversation_id: int) -> QuerySet[Message]:
    return (
        Message.objects.select_related("author_agent", "conversation__visitor")
        .prefetch_related("attachments")
        .filter(conversation_id=conversation_id)
    )


def messages_after(
    *, conversation_id: int, after: int, limit: int = RESUME_BATCH
) -> list[MessageData]:
    """Messages with seq > after, oldest first: what a resuming client missed.

    Keyset pagination on the (conversation, seq) unique index; never OFFSET.
    """
    rows = _messages(conversation_id).filter(seq__gt=after).order_by("seq")[:limit]
    return [message_data(m) for m in rows]


def message_history(*, conversation_id: int, limit: int = HISTORY_LIMIT) -> list[MessageData]:
    """The newest `limit` messages, oldest first."""
    return message_page(conversation_id=conversation_id, limit=limit)[0]


def message_page(
    *, conversation_id: int, limit: int, before: int | None = None
) -> tuple[list[MessageData], bool]:
    """The newest `limit` messages (before seq `before`, if given), oldest first, and whether
    there are earlier ones."""
    rows = _messages(conversation_id)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    page = list(rows.order_by("-seq")[: limit + 1])
    earlier = len(page) > limit
    page = page[:limit]
    page.reverse()
    return [message_data(m) for m in page], earlier


def with_preview(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate `preview`: the start of the newest visitor or agent message (PREVIEW_KINDS), via
    the (conversation, seq) index."""
    newest = previewable(OuterRef("pk")).values("preview_text")[:1]
    preview: Subquery | Substr = Subquery(newest, output_field=PREVIEW)
    if not crypto.enabled():  # cut in SQL; a ciphertext is cut once decrypted, by PREVIEW
        preview = Substr(preview, 1, PREVIEW_LENGTH)
    return (
        with_labels(queryset)
        .select_related("inbox", "visitor", "assigned_agent")
        .annotate(preview=preview)
    )


def conversation_summary(conversation_id: int) -> ConversationData:
    conversation = with_preview(Conversation.objects.filter(pk=conversation_id)).get()
    return conversation_data(conversation, preview=conversation.preview)


def conversations_last_seq(conversation_ids: list[int]) -> dict[int, int]:
    return dict(Conversation.objects.filter(pk__in=conversation_ids).values_list("pk", "last_seq"))


EARLIER_LIMIT = 5
EARLIER_MESSAGES = 50


class EarlierConversation(TypedDict):
    conversation: ConversationData
    messages: list[MessageData]


def visitor_earlier_conversations(
    visitor: Visitor, *, before: Conversation
) -> list[EarlierConversation]:
    """A returning visitor's previous chats (newest first), each with its last messages."""
    rows = with_preview(
        Conversation.objects.filter(visitor=visitor, created_at__lte=before.created_at).exclude(
            pk=before.pk
        )
    ).order_by("-created_at", "-pk")[:EARLIER_LIMIT]
    return [
        {
            "conversation": conversation_data(c, preview=c.preview),
            "messages": message_history(conversation_id=c.pk, limit=EARLIER_MESSAGES),
        }
        for c in rows
    ]
