"""Every write of the mail app: what is queued (the notices, transcripts), who unsubscribed or
opted in, and a visitor's email reply stored as their message.

Queueing writes a row (mail.models.OutboundEmail) inside the caller's transaction and sends
nothing: a rolled-back decision queues nothing, and the row is sent after the commit by
mail.outbox, outside any request. A `dedupe_key` per notice makes queueing the same notice twice
(two processes' housekeeping at once, a double click) store one row.

The scans (`missed_replies_queue`, `missed_chats_queue`) look back at most NOTICE_LOOKBACK: a
desk that turns email on, or whose housekeeping stopped for days, does not mail about old chats.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from agents.presence import inbox_has_agent_online
from chat.models import Conversation, Inbox, Message
from chat.sending import Refused
from chat.services import conversation_read, visitor_message_send
from mail import compose, inbound, tokens
from mail.models import (
    DEFAULT_NOTICE_MINUTES,
    AgentMailSettings,
    InboxMailSettings,
    OutboundEmail,
    Unsubscribe,
)

logger = logging.getLogger(__name__)

NOTICE_LOOKBACK = timedelta(days=1)
NOTICE_BATCH = 100  # notices queued per scan; the next run queues the rest
# A visitor message's client_id is uuid5(this, Message-ID): the same email, the same message.
INBOUND_NAMESPACE = uuid.UUID("0b5f3c1e-6f0e-4d59-9a34-6d3f1f1a3e52")
Kind = OutboundEmail.Kind


def email_queue(
    *,
    kind: str,
    dedupe_key: str,
    conversation: Conversation,
    to: str,
    composed: compose.Composed,
    agent_id: int | None = None,
    since_seq: int | None = None,
    covers_seq: int | None = None,
) -> tuple[OutboundEmail, bool]:
    """Queue an email unless the one with `dedupe_key` is queued already: `(row, created)`.
    Sent after the surrounding transaction commits (by mail.outbox), never inside it."""
    return OutboundEmail.objects.get_or_create(
        dedupe_key=dedupe_key,
        defaults={
            "kind": kind,
            "inbox_id": conversation.inbox_id,
            "conversation": conversation,
            "agent_id": agent_id,
            "to": to,
            "subject": composed.subject[:300],
            "text": composed.text,
            "html": composed.html,
            "headers": composed.headers,
            "message_id": compose.new_message_id(),
            "since_seq": since_seq,
            "covers_seq": covers_seq,
            "next_attempt_at": timezone.now(),
        },
    )


def is_unsubscribed(*, inbox_id: int, address: str) -> bool:
    return Unsubscribe.objects.filter(
        inbox_id=inbox_id, address_key=tokens.address_key(address)
    ).exists()


def _visible(conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages a visitor sees, oldest first: no internal notes, and no
    line for the agents alone unless it has the visitor's version (`as_visitor_sees`)."""
    return (
        Message.objects.filter(conversation=conversation)
        .exclude(sender_kind=Message.SenderKind.NOTE)
        .exclude(audience=Message.Audience.AGENTS, visitor_body="")
        .select_related("author_agent")
        .order_by("seq")
    )


def as_visitor_sees(messages: list[Message]) -> list[Message]:
    """`_visible` messages with an agents' line's text replaced by the visitor's version
    ("You're now chatting with Alice.", not who transferred to whom); in memory only."""
    for message in messages:
        if message.audience == Message.Audience.AGENTS:
            message.body = message.visitor_body
    return messages


@transaction.atomic
def transcript_queue(*, conversation: Conversation) -> tuple[OutboundEmail, bool]:
    """The conversation's transcript, to its visitor's address: `(row, created)`; the same
    transcript (no message since) to the same address is queued once. `Refused` (409) when the
    visitor gave no address or unsubscribed, (503) when email is not set up."""
    visitor = conversation.visitor
    if not visitor.email:
        raise Refused(409, "no_email", _("Give an email address first, to send the transcript to."))
    if is_unsubscribed(inbox_id=conversation.inbox_id, address=visitor.email):
        raise Refused(
            409, "unsubscribed", _("This address unsubscribed from our emails; nothing was sent.")
        )
    messages = as_visitor_sees(list(_visible(conversation)))
    last_seq = messages[-1].seq if messages else 0
    return email_queue(
        kind=Kind.TRANSCRIPT,
        dedupe_key=(
            f"transcript:{conversation.pk}:{last_seq}:{tokens.address_key(visitor.email)[:16]}"
        ),
        conversation=conversation,
        to=visitor.email,
        composed=compose.transcript(conversation, messages),
        covers_seq=last_seq,
    )


def _minutes(field: str) -> tuple[dict[int, int | None], int]:
    """Each inbox's minutes for a notice (`field` of InboxMailSettings; None: off), and the
    default of the inboxes without settings."""
    rows = InboxMailSettings.objects.values_list("inbox_id", field)
    return dict(rows), DEFAULT_NOTICE_MINUTES


def _due(created: datetime, minutes: int | None, now: datetime) -> bool:
    return minutes is not None and created <= now - timedelta(minutes=minutes)


def missed_replies_queue(*, now: datetime | None = None) -> int:
    """Queue one email per conversation whose visitor has not seen an agent's reply for their
    inbox's minutes (and left an address, and did not unsubscribe): the unseen replies and the
    link back to the chat. Once per read position: another email only after the visitor read
    (their read mark moved) and missed a reply again. How many were queued."""
    if not settings.SUPPORTDESK_SITE_URL:
        return 0  # mail.checks says so at startup
    now = now or timezone.now()
    minutes, default = _minutes("missed_reply_minutes")
    unseen = Message.objects.filter(
        conversation=OuterRef("pk"),
        sender_kind=Message.SenderKind.AGENT,
        seq__gt=OuterRef("visitor_read_seq"),
    ).order_by("seq")
    notified = OutboundEmail.objects.filter(
        conversation=OuterRef("pk"),
        kind=Kind.MISSED_REPLIES,
        since_seq=OuterRef("visitor_read_seq"),
    )
    candidates = (
        Conversation.objects.filter(
            # Every status (an ended chat's last replies count too), named so that PostgreSQL
            # can range over the (status, last_agent_message_at) index.
            status__in=Conversation.Status.values,
            last_agent_message_at__gte=now - NOTICE_LOOKBACK,
            visitor_read_seq__lt=F("last_seq"),
        )
        .exclude(visitor__email="")
        .annotate(first_unseen_at=Subquery(unseen.values("created_at")[:1]))
        .filter(first_unseen_at__lte=now - timedelta(minutes=1))
        .exclude(Exists(notified))
        .order_by("pk")
        .values_list("pk", "inbox_id", "first_unseen_at", "visitor__email")
    )
    rows = list(candidates)  # a day's unread chats at most; no server-side cursor (PgBouncer)
    # Unsubscribed addresses in one query, not one transaction each on every run.
    unsubscribed = set(
        Unsubscribe.objects.filter(
            inbox_id__in={row[1] for row in rows},
            address_key__in={tokens.address_key(row[3]) for row in rows},
        ).values_list("inbox_id", "address_key")
        if rows
        else ()
    )
    queued = 0
    for pk, inbox_id, first_unseen_at, address in rows:
        if (inbox_id, tokens.address_key(address)) in unsubscribed:
            continue
        if _due(first_unseen_at, minutes.get(inbox_id, default), now):
            queued += _missed_replies_queue_one(pk)
            if queued >= NOTICE_BATCH:
                break
    return queued


@transaction.atomic
def _missed_replies_queue_one(pk: int) -> int:
    """Queue the missed-replies email of one conversation, read afresh; 1 if queued."""
    conversation = Conversation.objects.select_related("visitor", "inbox").get(pk=pk)
    visitor = conversation.visitor
    if not visitor.email or is_unsubscribed(inbox_id=conversation.inbox_id, address=visitor.email):
        return 0
    since = conversation.visitor_read_seq
    replies = list(_visible(conversation).filter(seq__gt=since, sender_kind="agent"))
    if not replies:
        return 0  # read meanwhile
    _, created = email_queue(
        kind=Kind.MISSED_REPLIES,
        dedupe_key=f"missed_replies:{conversation.pk}:{since}",
        conversation=conversation,
        to=visitor.email,
        composed=compose.missed_replies(conversation, replies),
        since_seq=since,
        covers_seq=replies[-1].seq,
    )
    return int(created)


def missed_chats_queue(*, now: datetime | None = None) -> int:
    """Email the agents who opted in (mail.AgentMailSettings) about each chat that has waited
    in one of their inboxes for the inbox's minutes while nobody there is online; once per chat
    and agent. How many were queued."""
    if not settings.SUPPORTDESK_SITE_URL:
        return 0
    now = now or timezone.now()
    wanted = AgentMailSettings.objects.filter(
        missed_chats=True, agent__user__is_active=True
    ).exclude(agent__user__email="")
    recipients: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for inbox_id, agent_id, address in wanted.filter(agent__inboxes__isnull=False).values_list(
        "agent__inboxes", "agent_id", "agent__user__email"
    ):
        recipients[inbox_id].append((agent_id, address))
    if not recipients:
        return 0  # the common case: one query
    minutes, default = _minutes("missed_chat_minutes")
    waiting = Conversation.objects.filter(
        status=Conversation.Status.WAITING,
        inbox_id__in=list(recipients),
        created_at__gte=now - NOTICE_LOOKBACK,
        created_at__lte=now - timedelta(minutes=1),
    ).order_by("created_at", "pk")
    told = set(
        OutboundEmail.objects.filter(
            kind=Kind.MISSED_CHAT, conversation__in=waiting.values("pk")
        ).values_list("conversation_id", "agent_id")
    )
    online: dict[int, bool] = {}
    queued = 0
    for conversation in waiting.select_related("inbox", "visitor"):
        wait = minutes.get(conversation.inbox_id, default)
        if not _due(conversation.created_at, wait, now):
            continue
        to = [
            (agent_id, address)
            for agent_id, address in recipients[conversation.inbox_id]
            if (conversation.pk, agent_id) not in told
        ]
        if not to:
            continue
        if conversation.inbox_id not in online:
            online[conversation.inbox_id] = inbox_has_agent_online(conversation.inbox_id)
        if online[conversation.inbox_id]:
            continue
        queued += _missed_chat_queue(conversation, to=to, minutes=wait or 0)
        if queued >= NOTICE_BATCH:
            break
    return queued


@transaction.atomic
def _missed_chat_queue(
    conversation: Conversation, *, to: list[tuple[int, str]], minutes: int
) -> int:
    waiting = list(_visible(conversation).filter(sender_kind=Message.SenderKind.VISITOR)[:5])
    composed = compose.missed_chat(conversation, waiting=waiting, minutes=minutes)
    queued = 0
    for agent_id, address in to:
        _, created = email_queue(
            kind=Kind.MISSED_CHAT,
            dedupe_key=f"missed_chat:{conversation.pk}:{agent_id}",
            conversation=conversation,
            to=address,
            composed=composed,
            agent_id=agent_id,
        )
        queued += created
    return queued


def unsubscribe(*, inbox: Inbox, address_key: str) -> Unsubscribe:
    """No more visitor emails from `inbox` to the address with this key (idempotent). What is
    queued to it already is cancelled when its turn comes (mail.outbox)."""
    row, created = Unsubscribe.objects.get_or_create(inbox=inbox, address_key=address_key)
    if created:
        logger.info(
            "address unsubscribed",
            extra={"event": "mail.unsubscribed", "inbox_id": inbox.pk},
        )
    return row


def agent_mail_settings_set(*, agent_id: int, missed_chats: bool) -> AgentMailSettings:
    row, _ = AgentMailSettings.objects.update_or_create(
        agent_id=agent_id, defaults={"missed_chats": missed_chats}
    )
    return row


def emails_retry(*, pks: list[int]) -> int:
    """Send these failed or cancelled emails again, now (the admin's action). How many."""
    return OutboundEmail.objects.filter(
        pk__in=pks, status__in=[OutboundEmail.Status.FAILED, OutboundEmail.Status.CANCELLED]
    ).update(
        status=OutboundEmail.Status.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        last_error="",
    )


class Received(NamedTuple):
    outcome: Literal["stored", "duplicate", "ignored"]
    message: Message | None


def inbound_receive(raw: bytes) -> Received:
    """A visitor's email reply (a raw RFC 822 message), stored as their message in the
    conversation the email was about: found by the reply address it was sent to, else by the
    Message-IDs of ours it answers (In-Reply-To, References). Exactly once per Message-ID: the
    message's client_id is derived from it, so a second delivery stores nothing new.

    Refused (nothing stored): 400 unreadable, 404 about no conversation of ours, 403 not from
    the visitor's address, 422 no text above the quote or a rule of the message's (length).
    An auto-reply (out of office) is accepted and dropped ("ignored")."""
    email = inbound.parse(raw)
    if email.auto_submitted:
        return Received("ignored", None)
    conversation, covers_seq = _conversation_answered(email)
    if conversation is None:
        raise Refused(
            404,
            "unknown_conversation",
            "This email answers no conversation of ours (reply address, In-Reply-To, References).",
        )
    visitor = conversation.visitor
    if not tokens.visitor_address_matches(visitor, email.sender):
        raise Refused(
            403,
            "sender_mismatch",
            "This email is not from the address the conversation's emails went to.",
        )
    if not email.text:
        raise Refused(422, "empty", "The email has no text above the quoted message.")
    try:
        with transaction.atomic():
            result = visitor_message_send(
                visitor=visitor,
                body=email.text,
                client_id=uuid.uuid5(INBOUND_NAMESPACE, email.message_id),
            )
            if result.created and covers_seq:
                # They answered an email that showed the replies up to there: they read them.
                conversation_read(conversation_id=conversation.pk, reader="visitor", seq=covers_seq)
    except ValidationError as exc:
        raise Refused(422, exc.code or "invalid", " ".join(exc.messages)) from None
    return Received("stored" if result.created else "duplicate", result.message)


def _conversation_answered(email: inbound.Inbound) -> tuple[Conversation | None, int | None]:
    """The conversation an email answers, and how far the email it answers showed it."""
    conversations = Conversation.objects.select_related("visitor")
    pk = tokens.conversation_id_from_addresses(email.recipients)
    answered = (
        OutboundEmail.objects.filter(
            message_id__in=[f"<{ref}>" for ref in email.references],
            kind__in=[Kind.MISSED_REPLIES, Kind.TRANSCRIPT],  # never an agent's notice
        )
        .order_by("-created_at")
        .values_list("conversation_id", "covers_seq")
    )
    if pk is not None:
        answered = answered.filter(conversation_id=pk)
    found = answered.first()
    if pk is None and found is not None:
        pk = found[0]
    if pk is None:
        return None, None
    return conversations.filter(pk=pk).first(), found[1] if found else None
