"""The rule bot (bots/services.py): new chats start with it, it answers from its rules, and it
hands over to the team (the queue and assignment start there)."""

from __future__ import annotations

import uuid

import pytest

from agents.assignment import auto_assign
from agents.housekeeping import housekeeping
from agents.models import Agent
from agents.selectors import conversation_lists
from agents.services import agent_reply, conversation_claim
from bots.models import Bot, BotRule
from bots.services import bot_conversations_release
from chat.models import Conversation, Inbox, Message, Visitor
from chat.queue import waiting_line
from chat.sending import Draft, visitor_post
from chat.services import visitor_message_send
from chat.tokens import TokenClaims
from tests.agents.helpers import connect, new_visitor
from tests.conftest import published_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(inbox: Inbox) -> Bot:
    bot = Bot.objects.create(inbox=inbox, name="Robo", max_turns=3)
    BotRule.objects.create(
        bot=bot,
        position=1,
        keywords="price, pricing, how much",
        answer="Plans start at 10 € a month.",
        quick_replies="Show me the plans\nIs there a trial?",
    )
    BotRule.objects.create(bot=bot, position=2, keywords="trial", answer="14 days, free.")
    BotRule.objects.create(
        bot=bot, position=3, keywords="refund", answer="Refunds need a person.", hands_over=True
    )
    return bot


def send(visitor: Visitor, body: str, capture) -> Conversation:
    """The visitor writes (the full path), and everything that runs on commit runs: the bot."""
    with capture(execute=True):
        result = visitor_message_send(visitor=visitor, body=body, client_id=uuid.uuid4())
    conversation = result.message.conversation
    conversation.refresh_from_db()
    return conversation


def log(conversation: Conversation) -> list[tuple[str, str]]:
    return list(conversation.messages.order_by("seq").values_list("sender_kind", "body"))


def test_a_chat_of_an_inbox_with_an_active_bot_starts_with_the_bot(
    inbox: Inbox, bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "What's the price?", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.BOT
    assert conversation.assigned_agent is None
    assert waiting_line(inbox.pk) == []


def test_without_a_bot_or_with_an_inactive_one_a_chat_waits_as_before(
    inbox: Inbox, other_inbox: Inbox, django_capture_on_commit_callbacks
) -> None:
    Bot.objects.create(inbox=other_inbox, is_active=False)
    for box in (inbox, other_inbox):
        conversation = send(new_visitor(box), "Hello", django_capture_on_commit_callbacks)
        assert conversation.status == Conversation.Status.WAITING
        assert log(conversation) == [("visitor", "Hello")]


def test_the_bot_answers_a_matching_rule_with_its_suggested_replies(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = visitor_message_send(
            visitor=visitor, body="How MUCH does it cost?", client_id=uuid.uuid4()
        )
    conversation = result.message.conversation
    answer = conversation.messages.get(seq=2)
    assert (answer.sender_kind, answer.body, answer.author_label) == (
        "bot",
        "Plans start at 10 € a month.",
        "Robo",
    )
    assert answer.quick_replies.splitlines() == [
        "Show me the plans",
        "Is there a trial?",
        "Talk to a person",
    ]
    # Published like any message, after the visitor's own (which it answers).
    events = published_messages(callbacks)
    assert [e["message"]["seq"] for e in events][-2:] == [1, 2]
    bot_event = events[-1]
    assert bot_event["message"]["author_name"] == "Robo"
    assert bot_event["message"]["quick_replies"][-1] == "Talk to a person"
    assert bot_event["conversation"]["status"] == "bot"
    assert bot_event["conversation"]["preview"] == "Plans start at 10 € a month."
    conversation.refresh_from_db()
    # The team's side spoke (auto-end counts from it), but no person answered.
    assert conversation.last_agent_message_at == answer.created_at
    assert conversation.first_response_at is None


def test_keywords_match_whole_words_in_any_case(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    # "trials" is no "trial"; "pricing" is a keyword of the first rule.
    conversation = send(visitor, "PRICING for trials?", django_capture_on_commit_callbacks)
    assert log(conversation)[-1] == ("bot", "Plans start at 10 € a month.")


@pytest.mark.parametrize(
    "asks", ["Can I talk to a human?", "talk to a person", "Einen MENSCH bitte"]
)
def test_asking_for_a_person_hands_over_at_once(
    asks: str, bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "price?", django_capture_on_commit_callbacks)
    conversation = send(visitor, asks, django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert log(conversation)[-1] == (
        "system",
        "You asked for a person: someone from the team will join shortly.",
    )
    assert waiting_line(conversation.inbox_id) == [conversation.pk]


def test_the_first_message_may_ask_for_a_person(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "operator!", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert [kind for kind, _ in log(conversation)] == ["visitor", "system"]


def test_a_hand_over_rule_answers_then_hands_over(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "I want a refund", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert log(conversation) == [
        ("visitor", "I want a refund"),
        ("bot", "Refunds need a person."),
        ("system", "The bot handed the chat over to the team."),
    ]
    assert conversation.messages.get(seq=2).quick_replies == ""  # nothing left to suggest


def test_no_rule_matched_the_bot_says_its_fallback_and_hands_over(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "My printer is on fire", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert log(conversation)[1:] == [
        ("bot", "I'm not sure; let me get you a person."),
        ("system", "The bot handed the chat over to the team."),
    ]


def test_a_fallback_that_does_not_hand_over_keeps_the_chat_and_offers_a_person(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    bot.fallback_hands_over = False
    bot.fallback_message = "Try asking about prices."
    bot.save()
    conversation = send(visitor, "Hmm", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.BOT
    last = conversation.messages.get(seq=2)
    assert (last.body, last.quick_replies) == ("Try asking about prices.", "Talk to a person")


def test_after_max_turns_the_next_message_goes_to_the_team(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    bot.max_turns = 2
    bot.handover_message = "Let me find a colleague."
    bot.save()
    send(visitor, "price", django_capture_on_commit_callbacks)
    conversation = send(visitor, "trial", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.BOT
    conversation = send(visitor, "price again", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert log(conversation)[-3:] == [
        ("visitor", "price again"),
        ("bot", "Let me find a colleague."),
        ("system", "The bot handed the chat over to the team."),
    ]


def test_the_fast_path_reaches_the_bot_too(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    """The second message of an open chat takes the two-statement path (chat.posting)."""
    send(visitor, "hello", django_capture_on_commit_callbacks)  # fallback: hands over
    other = new_visitor(bot.inbox)
    first = send(other, "price", django_capture_on_commit_callbacks)
    claims = _claims(other)
    with django_capture_on_commit_callbacks(execute=True):
        posted = visitor_post(
            claims=claims,
            public_key=bot.inbox.public_key,
            draft=Draft("is there a trial", uuid.uuid4()),
        )
    assert posted.message["id"]  # the fast path stored it
    assert log(first)[-1] == ("bot", "14 days, free.")


def _claims(visitor: Visitor) -> TokenClaims:
    return TokenClaims(
        visitor_id=visitor.pk, inbox_id=visitor.inbox_id, generation=visitor.token_generation
    )


def test_bot_chats_are_neither_queued_nor_assigned_until_the_handover(
    bot: Bot, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    inbox = bot.inbox
    inbox.assignment = Inbox.Assignment.AUTO
    inbox.save()
    connect(agent)
    conversation = send(visitor, "price", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.BOT
    assert waiting_line(inbox.pk) == []
    assert auto_assign(inbox_ids=[inbox.pk]) == []
    housekeeping()
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == ("bot", None)
    # The handover: automatic assignment picks it up at once.
    conversation = send(visitor, "talk to a person", django_capture_on_commit_callbacks)
    assert (conversation.status, conversation.assigned_agent) == ("active", agent)
    assert [kind for kind, _ in log(conversation)][-2:] == ["system", "system"]  # + "Alice joined"


def test_an_agent_may_claim_a_bot_chat_and_the_bot_stops(
    bot: Bot, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "price", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_claim(conversation=conversation, agent=agent)
    conversation = send(visitor, "trial", django_capture_on_commit_callbacks)
    assert (conversation.status, conversation.assigned_agent) == ("active", agent)
    assert log(conversation)[-1] == ("visitor", "trial")  # the bot said nothing


def test_an_agent_replying_to_a_bot_chat_claims_it(
    bot: Bot, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "price", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        agent_reply(conversation=conversation, agent=agent, body="Hi!", client_id=uuid.uuid4())
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == ("active", agent)
    assert conversation.first_response_at is not None  # a person's answer


def test_the_dashboard_lists_bot_chats_apart(
    bot: Bot, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "price", django_capture_on_commit_callbacks)
    lists = conversation_lists(agent=agent)
    assert [c["id"] for c in lists["bot"]] == [conversation.pk]
    assert lists["waiting"] == lists["active"] == []
    assert lists["bot"][0]["preview"] == "Plans start at 10 € a month."


def test_switching_the_bot_off_hands_its_chats_to_the_team(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = send(visitor, "price", django_capture_on_commit_callbacks)
    bot.is_active = False
    bot.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert bot_conversations_release(inbox_id=bot.inbox_id) == 1
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING


def test_a_bot_chat_the_visitor_left_ends_after_inactivity(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from chat.services import conversations_auto_end

    inbox = bot.inbox
    inbox.auto_end_minutes = 10
    inbox.save()
    conversation = send(visitor, "price", django_capture_on_commit_callbacks)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_agent_message_at=timezone.now() - timedelta(minutes=11),
        last_visitor_message_at=timezone.now() - timedelta(minutes=12),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert conversations_auto_end() == 1
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ENDED


def test_a_rolled_back_visitor_message_wakes_no_bot(
    bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        sid = transaction.savepoint()
        visitor_message_send(visitor=visitor, body="price", client_id=uuid.uuid4())
        transaction.savepoint_rollback(sid)
    assert not Message.objects.filter(sender_kind="bot").exists()


def test_nobody_is_emailed_about_a_chat_the_bot_is_answering(
    bot: Bot, agent: Agent, visitor: Visitor, settings, django_capture_on_commit_callbacks
) -> None:
    from mail.models import AgentMailSettings
    from mail.services import missed_chats_queue
    from tests.mail.conftest import later

    settings.SUPPORTDESK_SITE_URL = "http://testserver"
    agent.user.email = "alice@desk.example"
    agent.user.save(update_fields=["email"])
    AgentMailSettings.objects.create(agent=agent, missed_chats=True)
    send(visitor, "price", django_capture_on_commit_callbacks)
    assert missed_chats_queue(now=later(30)) == 0  # with the bot: nobody missed it
    send(visitor, "a person please", django_capture_on_commit_callbacks)
    assert missed_chats_queue(now=later(30)) == 1  # handed over, and nobody came
