"""What the bot does: answer a visitor's message (from its rules, or by asking the webhook
bot's service), or hand the chat to the team.

Runs after the visitor's message committed (chat.signals.visitor_wrote_to_bot, connected in
bots.apps), in a transaction of its own that holds the conversation's row lock: two quick
messages take their turns one after the other, and a claim by an agent in between stops the bot
(chat.services.bot_message_create and conversation_hand_over look at the status under the lock).
Every write goes through chat.services, so the bot's messages get their `seq`, reach the widget
and the dashboards, and follow the delivery rules like any other message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bots.models import Bot, keyword_list, matches_any
from bots.selectors import active_bot
from chat.models import Conversation, Message
from chat.payloads import MessageData, conversation_data, message_data
from chat.services import (
    bot_message_create,
    conversation_hand_over,
    conversation_lock,
    system_line,
)
from webhooks.models import Event
from webhooks.services import deliveries_queue, webhook_conversation

logger = logging.getLogger(__name__)

# The button under every answer of the bot; its text, sent back, always hands over.
PERSON_BUTTON = gettext_noop("Talk to a person")
ASKED_LINE = gettext_noop("You asked for a person: someone from the team will join shortly.")
HANDED_LINE = gettext_noop("The bot handed the chat over to the team.")

Reason = Literal["asked", "bot"]


def person_button() -> str:
    """The button's text in the desk's language, as the bot's messages are stored once for
    everyone (like the system lines)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _(PERSON_BUTTON)


def asks_for_person(bot: Bot, text: str) -> bool:
    """The visitor's message asks for a person: the button's text (in the desk's language or
    English), or one of the bot's handover keywords."""
    said = " ".join(text.split()).casefold()
    if said in {person_button().casefold(), PERSON_BUTTON.casefold()}:
        return True
    return matches_any(text, keyword_list(bot.handover_keywords))


class NotWithBot(Exception):
    """The conversation is not (or no longer) with the bot: handed over, claimed or ended."""


@transaction.atomic
def bot_turn(*, conversation_id: int, text: str, message: MessageData | None = None) -> None:
    """The bot's answer to the visitor's message `text` (`message`: the whole message, as
    published), or the handover: see the module."""
    try:
        conversation = conversation_lock(Conversation(pk=conversation_id))
    except Conversation.DoesNotExist:  # erased meanwhile
        return
    if conversation.status != Conversation.Status.BOT:
        return  # an agent took it, or it ended, before the bot's turn
    bot = active_bot(conversation.inbox_id)
    if bot is None:  # switched off or deleted since the chat started
        handover(conversation, reason="bot")
        return
    if asks_for_person(bot, text):
        handover(conversation, reason="asked", bot=bot)
        return
    answered = conversation.messages.filter(sender_kind=Message.SenderKind.BOT).count()
    if answered >= bot.max_turns:
        handover(conversation, reason="bot", bot=bot)
        return
    if bot.kind == Bot.Kind.WEBHOOK:
        _ask_webhook_bot(conversation, bot, message, answered=answered)
        return
    rule = next((r for r in bot.rules.all() if r.matches(text)), None)
    if rule is None:
        replies = [] if bot.fallback_hands_over else [person_button()]
        _say(conversation, bot, bot.fallback_message, replies)
        if bot.fallback_hands_over:
            handover(conversation, reason="bot")
        return
    replies = [] if rule.hands_over else [*rule.quick_reply_list, person_button()]
    _say(conversation, bot, rule.answer, replies)
    if rule.hands_over:
        handover(conversation, reason="bot", bot=bot)


def _ask_webhook_bot(
    conversation: Conversation, bot: Bot, message: MessageData | None, *, answered: int
) -> None:
    """Queue a `bot.turn` delivery to the inbox's endpoints that take it, in the transaction
    holding the conversation's lock (so turns leave in order, webhooks.outbox). With no such
    endpoint nobody could answer: the team takes the chat at once."""
    if message is None:  # only the text is known (a caller outside the signal): read it back
        stored = conversation.messages.filter(sender_kind=Message.SenderKind.VISITOR).last()
        message = message_data(stored) if stored is not None else None
    loaded = conversation_data(conversation, preview=None)
    visitor = conversation.visitor
    queued = deliveries_queue(
        event=Event.BOT_TURN,
        conversation=loaded,
        seq=conversation.last_seq,
        data={
            "message": dict(message) if message is not None else None,
            "conversation": webhook_conversation(loaded),
            "visitor": {
                "id": visitor.pk,
                "name": visitor.name,
                "email": visitor.email,
                "attributes": visitor.attributes,
            },
            "bot": {
                "id": bot.pk,
                "name": bot.name,
                "answers": answered,
                "answers_left": bot.max_turns - answered,
            },
        },
    )
    if not queued:
        logger.warning(
            "webhook bot of inbox %s has no endpoint taking bot.turn: handed over",
            conversation.inbox_id,
            extra={"event": "bots.no_endpoint", "inbox_id": conversation.inbox_id},
        )
        handover(conversation, reason="bot", bot=bot)


def _say(conversation: Conversation, bot: Bot, body: str, quick_replies: list[str]) -> None:
    if body.strip():
        bot_message_create(
            conversation=conversation, bot_name=bot.name, body=body, quick_replies=quick_replies
        )


@transaction.atomic
def bot_reply(
    *,
    bot: Bot,
    conversation_id: int,
    body: str,
    quick_replies: Sequence[str] = (),
    client_id: uuid.UUID | None = None,
) -> tuple[Message, bool]:
    """A webhook bot's answer, through the API (api.views.BotMessageCreate): stored and
    delivered like the rule bot's, with the "Talk to a person" button after the bot's own
    suggestions; with whether it was stored now. Idempotent on `client_id` (a bot answering a
    redelivered turn again stores it once: False). Conversation.DoesNotExist for one outside
    the bot's inbox; NotWithBot once the chat has left the bot; ValidationError for an empty or
    oversized body."""
    conversation = conversation_lock(_bots_conversation(bot, conversation_id))
    if client_id is not None:
        existing = conversation.messages.filter(client_id=client_id).first()
        if existing is not None:
            return existing, False
    if conversation.status != Conversation.Status.BOT:
        raise NotWithBot
    replies = [*quick_replies, person_button()]
    stored = bot_message_create(
        conversation=conversation,
        bot_name=bot.name,
        body=body,
        quick_replies=replies,
        client_id=client_id,
    )
    if stored is None:  # not reached: the status was checked under the same lock
        raise NotWithBot
    return stored, True


@transaction.atomic
def bot_hand_over(*, bot: Bot, conversation_id: int, message: str = "") -> None:
    """A webhook bot hands the chat to the team (the API's handover), after saying `message`
    if it gives one. Conversation.DoesNotExist outside the bot's inbox; NotWithBot if the chat
    has left the bot already."""
    conversation = conversation_lock(_bots_conversation(bot, conversation_id))
    if conversation.status != Conversation.Status.BOT:
        raise NotWithBot
    if message.strip():
        _say(conversation, bot, message, [])
    handover(conversation, reason="bot", bot=None)


def _bots_conversation(bot: Bot, conversation_id: int) -> Conversation:
    """The conversation, if it is of the bot's inbox (else DoesNotExist: another inbox's
    conversation is as unknown to a bot as a forged id)."""
    return Conversation.objects.only("pk").get(pk=conversation_id, inbox_id=bot.inbox_id)


def unanswered_turns_hand_over(*, now: datetime | None = None) -> int:
    """Hand to the team every conversation whose webhook bot has not answered the visitor's
    last message within its `answer_timeout_seconds` (the bot's service is down, slow or
    broken): a visitor is never left with nobody. Runs on housekeeping's heartbeat
    (bots.apps). How many."""
    now = now or timezone.now()
    late = Conversation.objects.filter(
        status=Conversation.Status.BOT,
        inbox__bot__kind=Bot.Kind.WEBHOOK,
        last_visitor_message_at__lt=now
        - timedelta(seconds=1) * F("inbox__bot__answer_timeout_seconds"),
    ).filter(
        Q(last_agent_message_at__isnull=True)
        | Q(last_agent_message_at__lt=F("last_visitor_message_at"))
    )
    handed = 0
    for pk in late.values_list("pk", flat=True)[:100]:
        if _hand_over_if_unanswered(pk):
            handed += 1
            logger.warning(
                "webhook bot did not answer in time: conversation %s handed over",
                pk,
                extra={"event": "bots.timed_out", "conversation_id": pk},
            )
    return handed


@transaction.atomic
def _hand_over_if_unanswered(conversation_id: int) -> bool:
    """Under the lock, again: the bot's answer may have come since the look-up."""
    locked = conversation_lock(Conversation(pk=conversation_id))
    answered = locked.last_agent_message_at is not None and (
        locked.last_visitor_message_at is None
        or locked.last_agent_message_at >= locked.last_visitor_message_at
    )
    return not answered and handover(locked, reason="bot")


def bots_housekeeping() -> dict[str, int]:
    """The bots app's periodic work (agents.housekeeping.periodic_tasks)."""
    return {"bot_turns_timed_out": unanswered_turns_hand_over()}


@transaction.atomic
def handover(conversation: Conversation, *, reason: Reason, bot: Bot | None = None) -> bool:
    """Hand the conversation to the team: the bot's handover message if it has one, then a
    system line for both sides, and the chat joins the queue (chat.services.
    conversation_hand_over: automatic assignment and the dashboards' Waiting list start there).
    `reason` "asked": the visitor asked for a person; "bot": the bot decided (a rule, its
    fallback, its answers used up, or it was switched off). False if the chat had left the bot
    already."""
    if bot is not None and bot.handover_message.strip():
        _say(conversation, bot, bot.handover_message, [])
    line = system_line(ASKED_LINE if reason == "asked" else HANDED_LINE)
    handed = conversation_hand_over(conversation=conversation, line=line)
    if handed is not None:
        logger.info("bot handed conversation %s over (%s)", conversation.pk, reason)
    return handed is not None


def bot_conversations_release(*, inbox_id: int) -> int:
    """Hand every conversation the inbox's bot has to the team (the bot was switched off or
    deleted): none is left with nobody to answer. How many."""
    pks = Conversation.objects.filter(inbox_id=inbox_id, status=Conversation.Status.BOT)
    handed = 0
    for pk in pks.values_list("pk", flat=True):
        handed += handover(Conversation(pk=pk), reason="bot")
    return handed
