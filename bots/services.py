"""What the bot does: answer a visitor's message from its rules, or hand the chat to the team.

Runs after the visitor's message committed (chat.signals.visitor_wrote_to_bot, connected in
bots.apps), in a transaction of its own that holds the conversation's row lock: two quick
messages take their turns one after the other, and a claim by an agent in between stops the bot
(chat.services.bot_message_create and conversation_hand_over look at the status under the lock).
Every write goes through chat.services, so the bot's messages get their `seq`, reach the widget
and the dashboards, and follow the delivery rules like any other message.
"""

from __future__ import annotations

import logging
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bots.models import Bot, keyword_list, matches_any
from bots.selectors import active_bot
from chat.models import Conversation, Message
from chat.services import (
    bot_message_create,
    conversation_hand_over,
    conversation_lock,
    system_line,
)

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


@transaction.atomic
def bot_turn(*, conversation_id: int, text: str) -> None:
    """The bot's answer to the visitor's message `text`, or the handover: see the module."""
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


def _say(conversation: Conversation, bot: Bot, body: str, quick_replies: list[str]) -> None:
    if body.strip():
        bot_message_create(
            conversation=conversation, bot_name=bot.name, body=body, quick_replies=quick_replies
        )


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
