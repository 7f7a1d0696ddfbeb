"""Every write to visitors, conversations and messages.

Each service runs in a transaction, takes the conversation's row lock before it hands out a `seq`,
and publishes on commit (`chat.events`), so a rolled-back write publishes nothing
and no client ever sees a message that was not stored.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext_lazy

from chat import availability
from chat.attachments import attachments_claim, known_attachments
from chat.events import publish_message_on_commit, publish_on_commit
from chat.groups import inbox_group, visitor_group
from chat.models import AgentRef, Conversation, Inbox, Message, Visitor
from chat.payloads import (
    ReadEvent,
    VisitorContextEvent,
    chat_message_event,
    visitor_signed_out_event,
    with_labels,
)
from chat.queue import queue_changed
from chat.signals import (
    assignment_needed,
    bot_turn_on_commit,
    conversation_ended,
    conversation_rated,
    conversation_started,
    message_stored,
)
from supportdesk.bidi import isolated
from supportdesk.logs import log_on_commit

logger = logging.getLogger(__name__)


class ConversationEnded(Exception):
    """The conversation is over; it takes no more messages or assignments."""


class MessageResult(NamedTuple):
    message: Message
    created: bool


def visitor_create(*, inbox: Inbox) -> Visitor:
    return Visitor.objects.create(inbox=inbox)


@transaction.atomic
def visitor_sessions_revoke(*, visitor: Visitor) -> None:
    """Sign the visitor out everywhere: every token issued to them so far is refused from now
    on (chat.tokens: the token's generation no longer matches), and once this commits their
    open widgets close their sockets (4401) and start a new, empty session. Their
    conversations stay; a verified user (chat.identity) is linked back to them on next load."""
    Visitor.objects.filter(pk=visitor.pk).update(token_generation=F("token_generation") + 1)
    visitor.refresh_from_db(fields=["token_generation"])
    publish_on_commit([visitor_group(visitor.pk)], visitor_signed_out_event(visitor.pk))


def clean_body(body: str, *, allow_empty: bool = False) -> str:
    """The text as it will be stored, or a ValidationError a person can act on. Empty only
    with `allow_empty` (a message of files alone)."""
    text = body.strip()
    if not text and not allow_empty:
        raise ValidationError(_("Write a message first."), code="empty")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; refusing it clearly beats a 500 that a client retries.
        raise ValidationError(_("The message contains a NUL character."), code="invalid_character")
    refuse_if_longer(
        text,
        settings.SUPPORTDESK_MAX_MESSAGE_LENGTH,
        _("A message can be at most %(limit)d characters; this one has %(length)d."),
    )
    return text


def refuse_if_longer(text: str, limit: int, message: str) -> None:
    """ValidationError("too_long") with `message` (%(limit)d, %(length)d) past `limit`."""
    if len(text) > limit:
        raise ValidationError(message % {"limit": limit, "length": len(text)}, code="too_long")


@transaction.atomic
def conversation_start(*, visitor: Visitor) -> Conversation:
    """The visitor's open conversation, started if there is none (linked to the one before it,
    when the visitor writes again after a chat ended).

    Locks the visitor row, so two tabs sending their first message at once share one conversation.
    """
    Visitor.objects.select_for_update().only("pk").get(pk=visitor.pk)
    conversation = (
        Conversation.objects.exclude(status=Conversation.Status.ENDED)
        .filter(visitor=visitor)
        .first()
    )
    if conversation is None:
        previous = (
            Conversation.objects.filter(visitor=visitor).order_by("-created_at", "-pk").first()
        )
        # An inbox with an active bot: the bot answers first (`bot`), the queue starts when it
        # hands over (`conversation_hand_over`).
        bot = availability.bot_answers_first(visitor.inbox_id)
        conversation = Conversation.objects.create(
            inbox_id=visitor.inbox_id,
            visitor=visitor,
            previous=previous,
            status=Conversation.Status.BOT if bot else Conversation.Status.WAITING,
        )
        log_on_commit(
            logger,
            "conversation created",
            event="conversation.created",
            conversation_id=conversation.pk,
            inbox_id=conversation.inbox_id,
            visitor_id=visitor.pk,
        )
        conversation_started.send(sender=Conversation, conversation=conversation)
    return conversation


def request_assignment(inbox_id: int) -> None:
    """Once the transaction commits, let automatic assignment look at the inbox's queue."""
    transaction.on_commit(
        lambda: assignment_needed.send(sender=Conversation, inbox_id=inbox_id), robust=True
    )


@transaction.atomic
def visitor_message_send(
    *, visitor: Visitor, body: str, client_id: uuid.UUID, attachments: Sequence[str] = ()
) -> MessageResult:
    """A visitor's message, in their open conversation (started if need be), with the uploads
    `attachments` names (chat.attachments). Idempotent on `client_id`: a retry returns the
    stored message, even if its conversation has since ended."""
    text = clean_body(body, allow_empty=bool(attachments))
    stored = Message.objects.filter(conversation__visitor=visitor)
    existing = _message_by_client_id(stored, client_id=client_id)
    if existing is not None:  # a retry: answer without starting anything
        return MessageResult(existing, created=False)
    # conversation_start takes the visitor's row lock, so a retry racing the original
    # serializes here; looking again under the lock, the second finds the first.
    conversation = conversation_start(visitor=visitor)
    existing = _message_by_client_id(stored, client_id=client_id)
    if existing is not None:
        return MessageResult(existing, created=False)
    try:
        result = message_create(
            conversation=conversation,
            sender_kind=Message.SenderKind.VISITOR,
            body=text,
            client_id=client_id,
            attachments=attachments,
        )
    except ConversationEnded:
        # An agent ended the chat between our two statements: the visitor's message starts
        # the next conversation, as it would have a moment later.
        result = message_create(
            conversation=conversation_start(visitor=visitor),
            sender_kind=Message.SenderKind.VISITOR,
            body=text,
            client_id=client_id,
            attachments=attachments,
        )
    started = result.message.conversation  # the locked one it went to (append_message)
    if result.created and result.message.seq == 1 and started.status != Conversation.Status.BOT:
        # A new chat joins the queue (one with the bot joins when the bot hands it over).
        # Registered after the message's publish, so on commit
        # everyone sees the chat before the "Alice joined" that assignment may add.
        request_assignment(conversation.inbox_id)
        queue_changed(conversation.inbox_id)
    return result


@transaction.atomic
def message_create(
    *,
    conversation: Conversation,
    sender_kind: str,
    body: str,
    client_id: uuid.UUID | None,
    author_agent: AgentRef | None = None,
    attachments: Sequence[str] = (),
) -> MessageResult:
    """Append a message to an open conversation, with the sender's uploads `attachments`
    (chat.attachments.attachments_claim). Idempotent on `client_id`.

    Raises ValidationError for an empty (without files) or oversized body, or files that are
    not the sender's pending uploads, and ConversationEnded for an ended conversation (unless
    the message with this `client_id` is already stored).
    """
    text = clean_body(body, allow_empty=bool(attachments))
    locked = conversation_lock(conversation)
    if client_id is not None:
        existing = _message_by_client_id(locked.messages.all(), client_id=client_id)
        if existing is not None:
            return MessageResult(existing, created=False)
    if locked.status == Conversation.Status.ENDED:
        raise ConversationEnded(_("This chat has ended."))
    message = append_message(
        locked,
        sender_kind=sender_kind,
        body=text,
        client_id=client_id,
        author_agent=author_agent,
        attachments=attachments,
    )
    return MessageResult(message, created=True)


@transaction.atomic
def conversation_end(*, conversation: Conversation, by: AgentRef) -> Conversation:
    """An agent ends an open conversation."""
    locked = conversation_lock(conversation)
    if locked.status == Conversation.Status.ENDED:
        raise ConversationEnded(_("This chat has already ended."))
    line = system_line(gettext_noop("%(name)s ended the chat."), name=by.display_name)
    return end_locked(locked, line, by=by)


@transaction.atomic
def bot_message_create(
    *,
    conversation: Conversation,
    bot_name: str,
    body: str,
    quick_replies: Sequence[str] = (),
    client_id: uuid.UUID | None = None,
) -> Message | None:
    """The bot's answer in a conversation still with the bot, with the answers it suggests
    (buttons in the widget; the same text twice once); None, and nothing stored, if the
    conversation has left the bot meanwhile (handed over, claimed by an agent, ended): the bot
    never speaks over a person. ValidationError for an empty or oversized body."""
    locked = conversation_lock(conversation)
    if locked.status != Conversation.Status.BOT:
        return None
    replies = list(dict.fromkeys(line for r in quick_replies if (line := " ".join(r.split()))))
    return append_message(
        locked,
        sender_kind=Message.SenderKind.BOT,
        body=clean_body(body),
        author_label=bot_name[: Message._meta.get_field("author_label").max_length],
        quick_replies="\n".join(replies),
        client_id=client_id,
    )


@transaction.atomic
def conversation_hand_over(*, conversation: Conversation, line: str) -> Conversation | None:
    """The bot hands the conversation to the team: it joins the queue (waiting) with the system
    `line` for both sides, as a new chat does (the widgets' line moves, automatic assignment
    looks, the dashboards list it under Waiting). None, and nothing changed, if it is no longer
    with the bot (an agent claimed it meanwhile, or it ended)."""
    locked = conversation_lock(conversation)
    if locked.status != Conversation.Status.BOT:
        return None
    locked.status = Conversation.Status.WAITING
    locked.save(update_fields=["status"])
    append_message(locked, sender_kind=Message.SenderKind.SYSTEM, body=line)
    # After the line's publish, as for a new chat: everyone sees it wait before "Alice joined".
    request_assignment(locked.inbox_id)
    queue_changed(locked.inbox_id)
    log_on_commit(
        logger,
        "conversation handed over",
        event="conversation.handed_over",
        conversation_id=locked.pk,
        inbox_id=locked.inbox_id,
    )
    return locked


def end_locked(
    locked: Conversation, line: str, *, by: AgentRef | None = None, reason: str = ""
) -> Conversation:
    """End the locked, open conversation with a closing line for both sides; `by` the agent who
    ended it, or None when it ended by itself for `reason` (signals.conversation_ended)."""
    if locked.status == Conversation.Status.WAITING:
        queue_changed(locked.inbox_id)  # those behind it move up
    was = locked.status
    locked.status = Conversation.Status.ENDED
    locked.ended_at = timezone.now()
    locked.snoozed_at = locked.snoozed_until = None  # an ended chat is no longer snoozed
    locked.save(update_fields=["status", "ended_at", "snoozed_at", "snoozed_until"])
    log_on_commit(
        logger,
        "conversation ended",
        event="conversation.ended",
        conversation_id=locked.pk,
        inbox_id=locked.inbox_id,
        agent_id=locked.assigned_agent_id,
        was=was,
    )
    conversation_ended.send(sender=Conversation, conversation=locked, by=by, reason=reason)
    append_message(locked, sender_kind=Message.SenderKind.SYSTEM, body=line)
    if locked.assigned_agent_id is not None:
        request_assignment(locked.inbox_id)  # the agent has room for the next chat
    return locked


AUTO_END_BATCH = 100


def conversations_auto_end() -> int:
    """End active conversations where the agent answered last and the visitor has not written
    since for longer than their inbox allows; at most AUTO_END_BATCH per run (the next run takes
    the rest). A visitor waiting for us (in the queue, or with the last word) is never closed."""
    ended = 0
    now = timezone.now()
    for inbox in Inbox.objects.filter(auto_end_minutes__gt=0):
        cutoff = now - timedelta(minutes=inbox.auto_end_minutes or 0)
        quiet = (
            Conversation.objects.filter(inbox=inbox)
            .filter(_visitor_quiet_since(cutoff))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for pk in quiet[: AUTO_END_BATCH - ended]:
            ended += _auto_end(pk, cutoff=cutoff, minutes=inbox.auto_end_minutes or 0)
        if ended >= AUTO_END_BATCH:
            break
    return ended


def _visitor_quiet_since(cutoff: datetime) -> Q:
    """Active or with the bot, the agent's (or the bot's) last answer before `cutoff`, and no
    visitor message after it: a visitor who left the bot's chat does not keep it open."""
    open_ = [Conversation.Status.ACTIVE, Conversation.Status.BOT]
    return Q(status__in=open_, last_agent_message_at__lt=cutoff) & (
        Q(last_visitor_message_at__isnull=True)
        | Q(last_visitor_message_at__lt=F("last_agent_message_at"))
    )


@transaction.atomic
def _auto_end(pk: int, *, cutoff: datetime, minutes: int) -> int:
    """End one quiet conversation, checking again under its lock (the visitor may just have
    written, or an agent ended it). 1 if it ended."""
    Conversation.objects.select_for_update().filter(pk=pk).values_list("pk").get()
    still_quiet = Conversation.objects.filter(pk=pk).filter(_visitor_quiet_since(cutoff))
    if not still_quiet.exists():
        return 0
    locked = conversation_lock(Conversation(pk=pk))
    line = system_line(
        ngettext_lazy(
            "This chat was closed after %(minutes)d minute of inactivity.",
            "This chat was closed after %(minutes)d minutes of inactivity.",
            "minutes",
        ),
        minutes=minutes,
    )
    end_locked(locked, line, reason="inactivity")
    return 1


VISITOR_CONTEXT_FIELDS = {
    "current_url": 2000,
    "page_title": 300,
    "referrer": 2000,
    "user_agent": 500,
    "timezone": 64,
    "language": 35,
}


def email_clean(value: str) -> str:
    """An email address as the visitor's field stores it, or ValidationError: an address
    (Django's EmailValidator) and the field's own validators, its length among them (254). Every
    way an address comes in (the widget's forms, verified identity) goes through here; PostgreSQL
    refused a valid 255-320 character address with a 500 (SQLite stored it)."""
    email = value.strip()
    validate_email(email)
    try:
        Visitor._meta.get_field("email").run_validators(email)
    except ValidationError as exc:  # a list of errors: one, with a code, as validate_email's
        raise ValidationError(" ".join(exc.messages), code="too_long") from None
    return email


def name_clean(value: str) -> str:
    """A visitor's name as the field stores it (no NULs, which PostgreSQL text cannot hold; no
    surrounding spaces), or ValidationError("too_long") past the field's max_length: refused
    where it comes in, like an address, not cut without a word (the form's input has the same
    maxlength, so only a hand-made request meets this)."""
    name = value.replace("\x00", "").strip()
    refuse_if_longer(
        name,
        Visitor._meta.get_field("name").max_length or 0,
        _("A name can be at most %(limit)d characters; this one has %(length)d."),
    )
    return name


def visitor_profile_set(*, visitor: Visitor, email: str | None, name: str | None = None) -> Visitor:
    """The visitor's email address (for a reply when nobody is online, or the pre-chat form)
    and, if given, their name (None: left as it is; the REST API may set either alone).
    ValidationError if the address is not one or the name is too long; both are checked before
    anything is written. Dashboards showing the visitor's chat see the change at once."""
    changes: dict[str, str] = {}
    if email is not None:
        changes["email"] = email_clean(email)
    if name is not None:
        changes["name"] = name_clean(name)
    if not changes:
        return visitor
    for field, value in changes.items():
        setattr(visitor, field, value)
    _visitor_panel_save(visitor, list(changes))
    return visitor


RATING_COMMENT_LENGTH = 1000


@transaction.atomic
def conversation_rate(
    *, visitor: Visitor, conversation_id: int, rating: int, comment: str = ""
) -> Conversation:
    """The visitor rates one of their ended chats (1-5, optional comment); rating again
    replaces it. Conversation.DoesNotExist for anyone else's chat (ids are not confirmed)."""
    if rating not in range(1, 6):
        raise ValidationError(_("Choose a rating from 1 to 5."), code="bad_rating")
    comment = comment.strip()
    if len(comment) > RATING_COMMENT_LENGTH:
        raise ValidationError(
            _("A comment can be at most %(limit)d characters.") % {"limit": RATING_COMMENT_LENGTH},
            code="too_long",
        )
    conversation = (
        Conversation.objects.select_for_update().filter(visitor=visitor).get(pk=conversation_id)
    )
    if conversation.status != Conversation.Status.ENDED:
        raise ValidationError(_("A chat can be rated once it has ended."), code="not_ended")
    conversation.rating = rating
    conversation.rating_comment = comment.replace("\x00", "")
    conversation.rated_at = timezone.now()
    conversation.save(update_fields=["rating", "rating_comment", "rated_at"])
    conversation_rated.send(sender=Conversation, conversation=conversation)
    visitor_panel_changed(visitor)  # agents see the rating beside the chat at once
    return conversation


@transaction.atomic
def conversation_read(
    *, conversation_id: int, reader: Literal["visitor", "agent"], seq: int
) -> int | None:
    """Move a side's read watermark forward to `seq` (never back) and tell both sides, for the
    ticks. Returns `seq` capped to what exists (0 to the last message), or None if there is no
    such conversation."""
    field = f"{reader}_read_seq"
    row = (
        Conversation.objects.filter(pk=conversation_id)
        .values("last_seq", "inbox_id", "visitor_id")
        .first()
    )
    if row is None:
        return None
    seq = max(0, min(seq, row["last_seq"]))
    moved = Conversation.objects.filter(pk=conversation_id, **{f"{field}__lt": seq}).update(
        **{field: seq}
    )
    if not moved:
        return seq
    event: ReadEvent = {
        "type": "chat.read",
        "conversation_id": conversation_id,
        "reader": reader,
        "seq": seq,
    }
    groups = [inbox_group(row["inbox_id"]), visitor_group(row["visitor_id"])]
    publish_on_commit(groups, event)
    return seq


URL_FIELDS = {"current_url", "referrer"}


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def visitor_context_update(*, visitor: Visitor, context: dict[str, str]) -> Visitor:
    """Record where the visitor is (page, title, referrer, browser, time zone, language) and
    show it live to the agents of the inbox. Unknown keys are ignored; long values cut; the
    first referrer is kept (it says how the visitor found the site)."""
    changes: dict[str, str] = {}
    for field, limit in VISITOR_CONTEXT_FIELDS.items():
        value = context.get(field)
        if not isinstance(value, str):
            continue
        value = value.replace("\x00", "").strip()[:limit]
        if field in URL_FIELDS and not _is_web_url(value):
            value = ""  # agents click these: never a javascript: or data: link
        if field == "referrer" and (visitor.referrer or not value):
            continue
        changes[field] = value
    for field, value in changes.items():
        setattr(visitor, field, value)
    _visitor_panel_save(visitor, list(changes))
    return visitor


VISITOR_ATTRIBUTES_MAX_KEYS = 50
VISITOR_ATTRIBUTE_KEY_LENGTH = 50
VISITOR_ATTRIBUTES_MAX_BYTES = 4096


# Shared: the REST API (PATCH /api/v1/visitors/<id>/) and the JavaScript SDK's setAttributes
# (through the widget) both store custom attributes here, so both have the same limits.
@transaction.atomic
def visitor_attributes_set(*, visitor: Visitor, attributes: dict[str, object]) -> Visitor:
    """Merge `attributes` into the visitor's custom attributes (a null value deletes its key) and
    show them live to the inbox's agents. ValidationError, nothing written, for a key that is not
    a string of 1-50 characters (`bad_key`), a value not a string, number, boolean or null
    (`bad_value`), more than 50 keys (`too_many`) or more than 4096 bytes of JSON (`too_large`)
    after the merge. Locks the visitor's row: two merges at once both keep their keys."""
    if not isinstance(attributes, dict):
        raise ValidationError(_("Attributes must be an object."), code="bad_value")
    for key, value in attributes.items():
        if not isinstance(key, str) or not 0 < len(key) <= VISITOR_ATTRIBUTE_KEY_LENGTH:
            raise ValidationError(
                _("An attribute's name is 1 to %(limit)d characters.")
                % {"limit": VISITOR_ATTRIBUTE_KEY_LENGTH},
                code="bad_key",
            )
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValidationError(
                _("The attribute %(key)s is not a string, number, boolean or null.") % {"key": key},
                code="bad_value",
            )
        if isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN/Infinity
            raise ValidationError(
                _("The attribute %(key)s is not a finite number.") % {"key": key},
                code="bad_value",
            )
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError(
                _("The attribute %(key)s contains a NUL character.") % {"key": key},
                code="bad_value",
            )
    locked = Visitor.objects.select_for_update().only("attributes", "inbox_id").get(pk=visitor.pk)
    merged = dict(locked.attributes or {})
    for key, value in attributes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > VISITOR_ATTRIBUTES_MAX_KEYS:
        raise ValidationError(
            _("A visitor can have at most %(limit)d attributes.")
            % {"limit": VISITOR_ATTRIBUTES_MAX_KEYS},
            code="too_many",
        )
    size = len(json.dumps(merged, ensure_ascii=False).encode())
    if size > VISITOR_ATTRIBUTES_MAX_BYTES:
        raise ValidationError(
            _("A visitor's attributes can be at most %(limit)d bytes of JSON; these are %(size)d.")
            % {"limit": VISITOR_ATTRIBUTES_MAX_BYTES, "size": size},
            code="too_large",
        )
    locked.attributes = merged
    _visitor_panel_save(locked, ["attributes"])
    visitor.attributes, visitor.context_updated_at = merged, locked.context_updated_at
    return visitor


def _visitor_panel_save(visitor: Visitor, fields: list[str]) -> None:
    """Save what the agents' panel beside the chat shows (`fields`) with a new panel version
    (`context_updated_at`: a dashboard keeps a pushed panel only if it is newer than its own),
    and push the panel after commit."""
    visitor.context_updated_at = timezone.now()
    visitor.save(update_fields=[*fields, "context_updated_at"])
    visitor_panel_changed(visitor)


def visitor_panel_changed(visitor: Visitor) -> None:
    """After commit, dashboards showing this visitor's chat refresh the panel beside it (their
    page, their rating...)."""
    event: VisitorContextEvent = {
        "type": "visitor.context",
        "visitor_id": visitor.pk,
        "inbox_id": visitor.inbox_id,
    }
    publish_on_commit([inbox_group(visitor.inbox_id)], event)


def system_line(message: str | Promise, **values: object) -> str:
    """A stored system line ("Alice joined the chat."), in the desk's language (LANGUAGE_CODE):
    it is stored once for everyone, whatever the language of the request that caused it.
    `message` is a `gettext_noop` string, or an `ngettext_lazy` one whose count is in `values`.
    Names in it are bidi-isolated (supportdesk.bidi): the line is shown as text."""
    shown = {key: isolated(v) if isinstance(v, str) else v for key, v in values.items()}
    with translation.override(settings.LANGUAGE_CODE):
        return (_(message) if isinstance(message, str) else message) % shown


def append_message(
    locked: Conversation,
    *,
    sender_kind: str,
    body: str,
    client_id: uuid.UUID | None = None,
    author_agent: AgentRef | None = None,
    attachments: Sequence[str] = (),
    author_label: str = "",
    quick_replies: str = "",
    audience: str = Message.Audience.EVERYONE,
    visitor_body: str = "",
) -> Message:
    """Give the next `seq` to a new message, attach the sender's uploads `attachments` (a
    visitor's for a visitor message, else the author's), and publish it on commit. A bot's
    message has its `author_label` and `quick_replies`; a system line for the agents alone its
    `audience`, and the visitor's version of it `visitor_body` (chat.models.Message).

    Precondition: inside a transaction, holding `locked`'s row lock (see `conversation_lock`);
    that lock is what makes `seq` gap-free and strictly increasing per conversation.
    """
    locked.last_seq += 1
    message = Message.objects.create(
        conversation=locked,
        seq=locked.last_seq,
        sender_kind=sender_kind,
        author_agent=author_agent,
        body=body,
        client_id=client_id,
        author_label=author_label,
        quick_replies=quick_replies,
        audience=audience,
        visitor_body=visitor_body,
    )
    # The conversation's times are the message's own (auto_now_add sets it on insert).
    now = message.created_at
    locked.last_message_at = now
    fields = ["last_seq", "last_message_at"]
    if sender_kind == Message.SenderKind.VISITOR:
        locked.last_visitor_message_at = now
        fields.append("last_visitor_message_at")
        if locked.snoozed_at is not None:  # the visitor writing ends a snooze (agents.triage)
            locked.snoozed_at = locked.snoozed_until = None
            fields += ["snoozed_at", "snoozed_until"]
    elif sender_kind == Message.SenderKind.AGENT:
        locked.last_agent_message_at = now
        fields.append("last_agent_message_at")
        if locked.first_response_at is None:
            locked.first_response_at = now  # the first answer: analytics' first response time
            fields.append("first_response_at")
    elif sender_kind == Message.SenderKind.BOT:
        # The team's side spoke (auto-end counts from it), but no person answered yet: a bot's
        # message is no first response (docs/ANALYTICS.md).
        locked.last_agent_message_at = now
        fields.append("last_agent_message_at")
    locked.save(update_fields=fields)
    if sender_kind == Message.SenderKind.VISITOR:
        claimed = attachments_claim(message, attachments, visitor=locked.visitor)
    else:
        claimed = attachments_claim(message, attachments, agent=author_agent)
    event = chat_message_event(message, claimed)
    message_stored.send(sender=Message, event=event)  # inside the transaction (chat.signals)
    publish_message_on_commit(event)
    if sender_kind == Message.SenderKind.VISITOR and locked.status == Conversation.Status.BOT:
        bot_turn_on_commit(event)
    known_attachments(message, claimed)
    return message


def conversation_lock(conversation: Conversation) -> Conversation:
    """Take the conversation's row lock, then read it with what events need to serialize.

    Precondition: inside a transaction (the lock lasts until it ends).

    Two statements on purpose: when SELECT ... FOR UPDATE has to wait for another transaction,
    PostgreSQL re-reads the locked row but not the rows it was joined to, so a joined
    `assigned_agent` could be the one from before the wait (a claim that lost the race would
    not know who won). Read after the lock, in a statement of its own, everything is current.
    """
    Conversation.objects.select_for_update().filter(pk=conversation.pk).values_list("pk").get()
    # With its labels (`labels_json`): every event of the conversation carries them.
    return (
        with_labels(Conversation.objects.select_related("inbox", "visitor", "assigned_agent"))
        .filter(pk=conversation.pk)
        .get()
    )


def _message_by_client_id(queryset: QuerySet[Message], *, client_id: uuid.UUID) -> Message | None:
    """The stored message with this `client_id`, or None. Asked on every send and nearly always
    None, so it first asks only that, in a query that is cheap to build; a retry then loads the
    message with what its answer needs."""
    found = list(queryset.filter(client_id=client_id).values_list("pk", flat=True)[:1])
    if not found:
        return None
    return Message.objects.select_related(
        "author_agent", "conversation__visitor", "conversation__inbox"
    ).get(pk=found[0])
