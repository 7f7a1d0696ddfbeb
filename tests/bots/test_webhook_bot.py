"""The webhook bot (issue 19, item 5; docs/API.md, "Bots"): the desk posts the visitor's
messages it is the bot's turn to answer as signed `bot.turn` deliveries to a real HTTP receiver
(the webhooks' outbox), and the bot answers and hands over through the API with its own token.
The desk keeps the visitor's ways out: asking for a person, the answers used up, and a bot that
does not answer in time."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from agents.models import Agent
from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from bots.models import Bot
from bots.services import unanswered_turns_hand_over
from chat.models import Conversation, Inbox, Message, Visitor
from chat.services import visitor_message_send
from tests.api.conftest import Api, token_for
from tests.webhooks.conftest import Receiver
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from webhooks.outbox import deliveries_send_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(inbox: Inbox) -> Bot:
    return Bot.objects.create(inbox=inbox, kind=Bot.Kind.WEBHOOK, name="Robo", max_turns=2)


@pytest.fixture
def bot_endpoint(inbox: Inbox, receiver: Receiver, private_allowed: None) -> WebhookEndpoint:
    """The bot's service: an endpoint of the inbox that takes `bot.turn` only."""
    endpoint = WebhookEndpoint.objects.create(
        inbox=inbox, url=receiver.url, events=[Event.BOT_TURN], allow_private_network=True
    )
    receiver.secret = endpoint.secret
    return endpoint


@pytest.fixture
def bot_api(bot: Bot) -> Api:
    return Api(api_token_create(bot=bot, name="bot service", scopes=["write"]).plaintext)


def send(visitor: Visitor, body: str, capture: Any) -> Conversation:
    """The visitor writes (the full path), and what runs on commit runs: the bot's turn."""
    with capture(execute=True):
        result = visitor_message_send(visitor=visitor, body=body, client_id=uuid.uuid4())
    conversation = result.message.conversation
    conversation.refresh_from_db()
    return conversation


def log(conversation: Conversation) -> list[tuple[str, str]]:
    return list(conversation.messages.order_by("seq").values_list("sender_kind", "body"))


def answer_url(conversation: Conversation) -> str:
    return f"/api/v1/bot/conversations/{conversation.pk}/messages/"


def handover_url(conversation: Conversation) -> str:
    return f"/api/v1/bot/conversations/{conversation.pk}/handover/"


def test_the_visitors_message_goes_to_the_bot_signed_and_its_answer_comes_back_through_the_api(
    visitor: Visitor,
    bot: Bot,
    bot_endpoint: WebhookEndpoint,
    receiver: Receiver,
    bot_api: Api,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation = send(visitor, "Do you ship to Norway?", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.BOT

    assert deliveries_send_due() == 1
    (turn,) = receiver.wait_for(1)
    assert turn.signed
    payload = turn.json
    assert payload["event"] == "bot.turn"
    assert payload["conversation_id"] == conversation.pk
    assert payload["data"]["message"]["body"] == "Do you ship to Norway?"
    assert payload["data"]["message"]["sender_kind"] == "visitor"
    assert payload["data"]["visitor"]["id"] == visitor.pk
    assert payload["data"]["bot"] == {"id": bot.pk, "name": "Robo", "answers": 0, "answers_left": 2}

    # The bot answers through the API; a retry of the same answer is stored once.
    client_id = str(uuid.uuid4())
    body = {"body": "Yes, in 3 days.", "quick_replies": ["Costs?"], "client_id": client_id}
    first = bot_api.post(answer_url(conversation), body)
    assert first.status_code == 201, first.content
    again = bot_api.post(answer_url(conversation), body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    answer = Message.objects.get(pk=first.json()["id"])
    assert answer.sender_kind == Message.SenderKind.BOT
    assert answer.author_label == "Robo"
    assert answer.quick_replies.splitlines() == ["Costs?", "Talk to a person"]
    assert first.json()["quick_replies"] == ["Costs?", "Talk to a person"]
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.BOT  # the bot keeps it
    assert conversation.first_response_at is None  # a bot's answer is no person's response
    assert log(conversation) == [("visitor", "Do you ship to Norway?"), ("bot", "Yes, in 3 days.")]


def test_a_regular_endpoint_gets_no_bot_turns_and_the_bot_endpoint_no_other_events(
    visitor: Visitor,
    bot: Bot,
    bot_endpoint: WebhookEndpoint,
    inbox: Inbox,
    django_capture_on_commit_callbacks: Any,
) -> None:
    crm = WebhookEndpoint.objects.create(inbox=inbox, url="https://93.184.215.14/crm")
    assert Event.BOT_TURN not in crm.events  # not among a new endpoint's defaults
    send(visitor, "Hello", django_capture_on_commit_callbacks)
    assert list(WebhookDelivery.objects.filter(endpoint=bot_endpoint).values_list("event")) == [
        ("bot.turn",)
    ]
    assert "bot.turn" not in set(
        WebhookDelivery.objects.filter(endpoint=crm).values_list("event", flat=True)
    )


def test_the_bot_hands_over_through_the_api_and_then_can_no_longer_speak(
    visitor: Visitor,
    bot: Bot,
    bot_endpoint: WebhookEndpoint,
    bot_api: Api,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation = send(visitor, "I want a refund", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        handed = bot_api.post(handover_url(conversation), {"message": "A colleague will help."})
    assert handed.status_code == 200, handed.content
    assert handed.json() == {"conversation_id": conversation.pk, "status": "waiting"}
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING
    assert log(conversation)[1:] == [
        ("bot", "A colleague will help."),
        ("system", "The bot handed the chat over to the team."),
    ]

    late = bot_api.post(answer_url(conversation), {"body": "Still me!"})
    assert late.status_code == 409
    assert late.json()["error"] == "not_with_bot"
    assert bot_api.post(handover_url(conversation), {}).status_code == 409
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_asking_for_a_person_hands_over_without_asking_the_bot(
    visitor: Visitor,
    bot: Bot,
    bot_endpoint: WebhookEndpoint,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation = send(visitor, "Hi", django_capture_on_commit_callbacks)
    conversation = send(visitor, "Talk to a person", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert WebhookDelivery.objects.filter(event=Event.BOT_TURN).count() == 1  # "Hi" only


def test_after_its_answers_are_used_up_the_next_message_goes_to_the_team(
    visitor: Visitor,
    bot: Bot,
    bot_endpoint: WebhookEndpoint,
    bot_api: Api,
    django_capture_on_commit_callbacks: Any,
) -> None:
    conversation = send(visitor, "one", django_capture_on_commit_callbacks)
    assert bot_api.post(answer_url(conversation), {"body": "Answer 1"}).status_code == 201
    conversation = send(visitor, "two", django_capture_on_commit_callbacks)
    assert bot_api.post(answer_url(conversation), {"body": "Answer 2"}).status_code == 201
    conversation = send(visitor, "three", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    turns = WebhookDelivery.objects.filter(event=Event.BOT_TURN).order_by("pk")
    assert [t.payload["data"]["bot"]["answers"] for t in turns] == [0, 1]


def test_with_no_endpoint_taking_its_turns_the_team_takes_the_chat_at_once(
    visitor: Visitor, bot: Bot, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = send(visitor, "Anyone?", django_capture_on_commit_callbacks)
    assert conversation.status == Conversation.Status.WAITING
    assert log(conversation)[-1] == ("system", "The bot handed the chat over to the team.")


def test_a_bot_that_does_not_answer_in_time_hands_the_chat_to_the_team(
    visitor: Visitor,
    visitor_b: Visitor,
    bot: Bot,
    bot_endpoint: WebhookEndpoint,
    bot_api: Api,
    django_capture_on_commit_callbacks: Any,
) -> None:
    silent = send(visitor, "Hello?", django_capture_on_commit_callbacks)
    answered = send(visitor_b, "Hello!", django_capture_on_commit_callbacks)
    assert bot_api.post(answer_url(answered), {"body": "Hi there."}).status_code == 201

    assert unanswered_turns_hand_over() == 0  # not yet: within answer_timeout_seconds
    later = timezone.now() + timedelta(seconds=bot.answer_timeout_seconds + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert unanswered_turns_hand_over(now=later) == 1
    silent.refresh_from_db()
    answered.refresh_from_db()
    assert silent.status == Conversation.Status.WAITING
    assert answered.status == Conversation.Status.BOT


def test_a_rule_bot_is_never_timed_out(
    visitor: Visitor, inbox: Inbox, django_capture_on_commit_callbacks: Any
) -> None:
    Bot.objects.create(inbox=inbox, kind=Bot.Kind.RULES, fallback_hands_over=False)
    conversation = send(visitor, "Hello?", django_capture_on_commit_callbacks)
    Message.objects.filter(conversation=conversation, sender_kind="bot").delete()  # unanswered
    assert unanswered_turns_hand_over(now=timezone.now() + timedelta(hours=1)) == 0


class TestWhoMaySpeakAsTheBot:
    def test_another_inboxs_conversation_is_unknown(
        self, bot_api: Api, other_inbox: Inbox, django_capture_on_commit_callbacks: Any
    ) -> None:
        Bot.objects.create(inbox=other_inbox, kind=Bot.Kind.WEBHOOK)
        stranger = Visitor.objects.create(inbox=other_inbox)
        theirs = send(stranger, "Hi", django_capture_on_commit_callbacks)
        for url in (answer_url(theirs), handover_url(theirs)):
            response = bot_api.post(url, {"body": "Hi"})
            assert response.status_code == 404
        assert theirs.messages.count() == 2  # theirs, and their inbox's handover line

    def test_an_agents_token_cannot_speak_as_the_bot_and_a_bots_token_is_no_agent(
        self, agent: Agent, bot: Bot, bot_api: Api
    ) -> None:
        agent_api = Api(token_for(agent))
        response = agent_api.post("/api/v1/bot/conversations/1/messages/", {"body": "Hi"})
        assert response.status_code == 403
        assert response.json()["error"] == "not_a_bot"
        response = bot_api.get("/api/v1/conversations/")
        assert response.status_code == 403
        assert response.json()["error"] == "bot_token"

    def test_revoked_read_only_switched_off_and_rule_bots_are_refused(
        self,
        bot: Bot,
        bot_endpoint: WebhookEndpoint,
        visitor: Visitor,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        conversation = send(visitor, "Hi", django_capture_on_commit_callbacks)
        made = api_token_create(bot=bot, name="service", scopes=["write"])
        read_only = Api(api_token_create(bot=bot, name="ro", scopes=["read"]).plaintext)
        assert read_only.post(answer_url(conversation), {"body": "x"}).json()["error"] == "scope"
        bot.is_active = False
        bot.save()
        switched_off = Api(made.plaintext).post(answer_url(conversation), {"body": "x"})
        assert switched_off.status_code == 403
        assert switched_off.json()["error"] == "bot_inactive"
        bot.is_active = True
        bot.kind = Bot.Kind.RULES
        bot.save()
        assert Api(made.plaintext).post(answer_url(conversation), {"body": "x"}).status_code == 403
        bot.kind = Bot.Kind.WEBHOOK
        bot.save()
        api_token_revoke(token=made.token)
        revoked = Api(made.plaintext).post(answer_url(conversation), {"body": "x"})
        assert revoked.status_code == 401
        assert Api(None).post(answer_url(conversation), {"body": "x"}).status_code == 401
        assert log(conversation) == [("visitor", "Hi")]

    def test_bad_answers_are_refused_clearly_and_store_nothing(
        self,
        bot: Bot,
        bot_endpoint: WebhookEndpoint,
        bot_api: Api,
        visitor: Visitor,
        settings: Any,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        conversation = send(visitor, "Hi", django_capture_on_commit_callbacks)
        url = answer_url(conversation)
        empty = bot_api.post(url, {"body": "  "})
        assert (empty.status_code, empty.json()["error"]) == (422, "empty")
        too_long = bot_api.post(url, {"body": "x" * (settings.SUPPORTDESK_MAX_MESSAGE_LENGTH + 1)})
        assert too_long.status_code == 422
        assert bot_api.post(url, {"body": "ok", "quick_replies": ["x"] * 11}).status_code == 400
        assert bot_api.post(url, {"body": "ok", "client_id": "not-a-uuid"}).status_code == 400
        assert log(conversation) == [("visitor", "Hi")]


def test_a_token_is_for_an_agent_or_a_webhook_bot(agent: Agent, bot: Bot, inbox: Inbox) -> None:
    with pytest.raises(ValidationError):
        api_token_create(agent=agent, bot=bot, name="both", scopes=["write"])
    with pytest.raises(ValidationError):
        api_token_create(name="neither", scopes=["write"])
    bot.kind = Bot.Kind.RULES
    bot.save()
    with pytest.raises(ValidationError):
        api_token_create(bot=bot, name="rules", scopes=["write"])


def test_the_command_makes_a_bots_token_with_the_write_scope(bot: Bot) -> None:
    out = io.StringIO()
    call_command("create_api_token", "--bot", str(bot.pk), "--name", "bot service", stdout=out)
    token = ApiToken.objects.get(bot=bot)
    assert token.scopes == ["write"]
    assert out.getvalue().strip().startswith(f"sd_{token.prefix}_")
    with pytest.raises(CommandError, match="one of the two"):
        call_command("create_api_token", "--name", "x")
    with pytest.raises(CommandError, match="No bot"):
        call_command("create_api_token", "--bot", "999999", "--name", "x")
