"""The hot path of a message: a visitor's message or an agent's reply in two SQL statements.

Nearly every message is the next one in a conversation that is already open: a visitor writing
in their open chat, an agent answering an active one. For that case this module does in one
transaction what `chat.services` does with the ORM in about a dozen statements (two
savepoints, three `client_id` look-ups, two reads of the conversation, a lock, an insert and an
update, each statement about 0.4-1 ms of Python before PostgreSQL sees it):

1. `UPDATE conversation SET last_seq = last_seq + 1, ... WHERE <open, and yours> RETURNING ...`
   takes the row lock, hands out the next `seq` and returns what the event needs;
2. `INSERT INTO message ... WHERE NOT EXISTS (<this client_id already stored>) RETURNING id`.

Everything else (no open conversation, a waiting chat an agent's reply must claim first, an
ended chat, a retried `client_id`, a visitor or an agent that may not write there) returns
None without changing anything, and the caller takes the full path in `chat.services`, which
knows every rule and every error. The answers are the same either way; only the cost differs
(tests/chat/test_posting.py sends the same requests both ways).

SQL is written out here, once, for this path alone, and runs on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat.events import publish_message_on_commit
from chat.models import AgentRef, Conversation, Inbox, Message, Visitor
from chat.payloads import (
    ChatMessageEvent,
    ConversationData,
    MessageData,
    conversation_row,
    labels_sql,
    message_data,
)
from chat.signals import bot_turn_on_commit, message_stored
from supportdesk import crypto

if TYPE_CHECKING:
    from chat.services import MessageResult
    from chat.tokens import TokenClaims

CONVERSATION = Conversation._meta.db_table
MESSAGE = Message._meta.db_table
INBOX = Inbox._meta.db_table
VISITOR = Visitor._meta.db_table
# The agents' tables, through chat's own relations to them (chat does not import agents).
AGENT = Conversation._meta.get_field("assigned_agent").related_model._meta.db_table
AGENT_INBOXES = Inbox._meta.get_field("agents").through._meta.db_table
# Encrypted columns (supportdesk.cryptofields) this SQL writes or reads: done here by hand.
BODY = Message._meta.get_field("body")
VISITOR_NAME = Visitor._meta.get_field("name")
VISITOR_EMAIL = Visitor._meta.get_field("email")
ENDED, ACTIVE = Conversation.Status.ENDED.value, Conversation.Status.ACTIVE.value
FROM_VISITOR, WITH_BOT = Message.SenderKind.VISITOR.value, Conversation.Status.BOT.value

# SQL text holds only names from the models' meta; every value is a query parameter.

# What the event needs of the conversation after the update: its columns, and the names of its
# inbox, visitor and agent (scalar subqueries: both databases allow them in RETURNING); named as
# `chat.payloads.conversation_row` reads them.
RETURNED = (
    "id", "inbox_id", "visitor_id", "status", "assigned_agent_id", "created_at", "last_seq",
    "visitor_read_seq", "agent_read_seq", "rating",
    "last_visitor_message_at", "last_agent_message_at", "snoozed_at", "snoozed_until",
    "inbox__name", "visitor__name", "visitor__email", "assigned_agent__display_name",
    "labels_json",
)  # fmt: skip
RETURNING = f"""
    RETURNING id, inbox_id, visitor_id, status, assigned_agent_id, created_at, last_seq,
        visitor_read_seq, agent_read_seq, rating,
        last_visitor_message_at, last_agent_message_at, snoozed_at, snoozed_until,
        (SELECT name FROM {INBOX} WHERE {INBOX}.id = {CONVERSATION}.inbox_id),
        (SELECT name FROM {VISITOR} WHERE {VISITOR}.id = {CONVERSATION}.visitor_id),
        (SELECT email FROM {VISITOR} WHERE {VISITOR}.id = {CONVERSATION}.visitor_id),
        (SELECT display_name FROM {AGENT} WHERE {AGENT}.id = {CONVERSATION}.assigned_agent_id),
        {labels_sql(CONVERSATION)}
"""  # noqa: S608 - table names from the models; values are parameters

# A visitor's open conversation, if the token's inbox has the URL's key and the token's
# generation is the visitor's (not signed out since: chat.tokens).
VISITOR_BUMP = f"""
    UPDATE {CONVERSATION}
    SET last_seq = last_seq + 1, last_message_at = %(now)s, last_visitor_message_at = %(now)s,
        snoozed_at = NULL, snoozed_until = NULL
    WHERE visitor_id = %(visitor)s AND inbox_id = %(inbox)s AND status <> '{ENDED}'
        AND EXISTS (SELECT 1 FROM {INBOX} WHERE id = %(inbox)s AND public_key = %(key)s)
        AND EXISTS (
            SELECT 1 FROM {VISITOR} WHERE id = %(visitor)s AND token_generation = %(generation)s)
    {RETURNING}
"""  # noqa: S608 - table names from the models; values are parameters

# An active conversation of one of the agent's inboxes (any, for an admin). A waiting one is
# claimed first, which the full path does.
AGENT_BUMP = f"""
    UPDATE {CONVERSATION}
    SET last_seq = last_seq + 1, last_message_at = %(now)s, last_agent_message_at = %(now)s,
        first_response_at = COALESCE(first_response_at, %(now)s)
    WHERE id = %(conversation)s AND status = '{ACTIVE}'
        AND (%(admin)s OR inbox_id IN (
            SELECT inbox_id FROM {AGENT_INBOXES} WHERE agent_id = %(agent)s))
    {RETURNING}
"""  # noqa: S608 - table names from the models; values are parameters

INSERT = f"""
    INSERT INTO {MESSAGE}
        (conversation_id, seq, sender_kind, author_agent_id, body, body_tokens, client_id,
         created_at)
    SELECT %(conversation)s, %(seq)s, %(kind)s, %(author)s, %(body)s, %(tokens)s, %(client_id)s,
        %(now)s
    WHERE NOT EXISTS (
        SELECT 1 FROM {MESSAGE} JOIN {CONVERSATION} ON {CONVERSATION}.id = {MESSAGE}.conversation_id
        WHERE {MESSAGE}.client_id = %(client_id)s AND {{owner}})
    ON CONFLICT DO NOTHING
    RETURNING id
"""  # noqa: S608 - table names from the models; values are parameters
# A retry is the same client_id from the same visitor (in any of their conversations: the one
# it was stored in may have ended since), or in the same conversation for agents.
VISITOR_INSERT = INSERT.format(owner=f"{CONVERSATION}.visitor_id = %(visitor)s")
AGENT_INSERT = INSERT.format(owner=f"{CONVERSATION}.id = %(conversation)s")


class Posted(NamedTuple):
    """A stored message as clients see it, and whether this request stored it."""

    message: MessageData
    created: bool


def posted(result: MessageResult) -> Posted:
    """What the full path (chat.services) stored or found, as the fast path answers it."""
    return Posted(message_data(result.message), created=result.created)


class _Stored(Exception):
    """The client_id is stored already: undo the seq handed out, answer by the full path."""


def visitor_message_post(
    *, claims: TokenClaims, public_key: str, body: str, client_id: uuid.UUID
) -> Posted | None:
    """The visitor's message (`body` already cleaned) in their open conversation, or None."""
    if "\x00" in public_key:  # no key has one, and PostgreSQL refuses it in a query
        return None
    now = timezone.now()
    params = {
        "visitor": claims.visitor_id,
        "inbox": claims.inbox_id,
        "generation": claims.generation,
        "key": public_key,
        "now": now,
    }
    return _post(
        VISITOR_BUMP, VISITOR_INSERT, params, Message.SenderKind.VISITOR.value, body, client_id
    )


def agent_reply_post(
    *, agent: AgentRef, conversation_id: int, body: str, client_id: uuid.UUID
) -> Posted | None:
    """The agent's reply (`body` already cleaned) in an active conversation they may see, or
    None."""
    now = timezone.now()
    params = {
        "conversation": conversation_id,
        "admin": agent.is_admin,
        "agent": agent.pk,
        "now": now,
    }
    return _post(
        AGENT_BUMP, AGENT_INSERT, params, Message.SenderKind.AGENT.value, body, client_id, agent
    )


def _post(
    bump: str,
    insert: str,
    params: dict[str, Any],
    kind: str,
    body: str,
    client_id: uuid.UUID,
    author: AgentRef | None = None,
) -> Posted | None:
    field = Message._meta.get_field("client_id")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(bump, _prepared(params))
            row = cursor.fetchone()
            if row is None:
                return None
            # The preview is the message: a visitor's or an agent's.
            conversation = _conversation(row, last_message_at=params["now"], preview=body)
            message: MessageData = {
                "id": 0,
                "conversation_id": conversation["id"],
                "seq": conversation["last_seq"],
                "sender_kind": kind,
                "author_name": (
                    author.display_name if author is not None else conversation["visitor_name"]
                ),
                "body": body,
                "client_id": str(client_id),
                "created_at": params["now"].isoformat(),
                "attachments": [],  # a message with files takes the full path
            }
            if author is not None:
                message["author_id"] = author.pk  # as chat.payloads.message_data says it
            values = {
                **params,
                "conversation": conversation["id"],
                "seq": conversation["last_seq"],
                "kind": kind,
                "author": author.pk if author is not None else None,
                # Stored as the ORM stores it: encrypted, with its blind index, when a key is
                # set (supportdesk.crypto); as it is, with no tokens, without one.
                "body": crypto.encrypt_text(body, aad=BODY.aad),
                "tokens": crypto.search_tokens(body),
                "client_id": field.get_db_prep_value(client_id, connection),
            }
            cursor.execute(insert, _prepared(values))
            inserted = cursor.fetchone()
            if inserted is None:
                raise _Stored
            message["id"] = inserted[0]
            event: ChatMessageEvent = {
                "type": "chat.message",
                "message": message,
                "conversation": conversation,
            }
            message_stored.send(sender=Message, event=event)  # inside the transaction
            publish_message_on_commit(event)
            if kind == FROM_VISITOR and conversation["status"] == WITH_BOT:
                bot_turn_on_commit(event)  # the bot answers (chat.signals)
    except _Stored:
        return None
    return Posted(message, created=True)


def _prepared(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the database takes them (SQLite stores datetimes as naive UTC text)."""
    return {
        key: connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, datetime)
        else value
        for key, value in params.items()
    }


def _conversation(
    row: tuple[Any, ...], *, last_message_at: datetime, preview: str
) -> ConversationData:
    """The RETURNING row as `conversation_row` serializes every conversation."""
    values = dict(zip(RETURNED, row, strict=True))
    for name, column in (("visitor__name", VISITOR_NAME), ("visitor__email", VISITOR_EMAIL)):
        values[name] = column.from_db_value(values[name], None, connection)
    for name in ("created_at", "last_visitor_message_at", "last_agent_message_at"):
        values[name] = _aware(values[name]) if values[name] is not None else None
    for name in ("snoozed_at", "snoozed_until"):  # the visitor's bump ends a snooze
        values[name] = _aware(values[name]) if values[name] is not None else None
    return conversation_row({**values, "last_message_at": last_message_at, "preview": preview})


def _aware(value: datetime | str) -> datetime:
    """A timestamp as read back from either database (SQLite: naive UTC text)."""
    if isinstance(value, str):
        value = parse_datetime(value)  # type: ignore[assignment]
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
