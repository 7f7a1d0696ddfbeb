"""The widget and the dashboard show a chat with the bot for what it is."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from bots.models import Bot, BotRule
from chat.models import Inbox, Visitor
from chat.tokens import visitor_token
from tests.agents.helpers import logged_in
from tests.chat.test_views import post_message, widget_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(inbox: Inbox) -> Bot:
    bot = Bot.objects.create(inbox=inbox, name="Robo")
    BotRule.objects.create(bot=bot, keywords="price", answer="Ten euros.", quick_replies="Trial?")
    return bot


def chat_with_bot(client: Client, inbox: Inbox, visitor: Visitor, capture) -> None:
    with capture(execute=True):
        response = post_message(
            client, inbox, visitor_token(visitor), "What's the price?", str(uuid.uuid4())
        )
    assert response.status_code == 201


def test_the_widget_says_the_bot_answers_not_that_the_chat_ended(
    client: Client, inbox: Inbox, bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    chat_with_bot(client, inbox, visitor, django_capture_on_commit_callbacks)
    html = widget_log(client, inbox, visitor)
    assert 'data-status="bot"' in html
    assert "You're chatting with our assistant." in html
    assert "has ended" not in html
    assert 'class="rating"' not in html
    # The bot's answer, named and marked, with its buttons (the person one always).
    assert "Ten euros." in html
    assert 'class="msg__bot-mark"' in html
    assert 'data-quick-reply="Trial?"' in html
    assert 'data-quick-reply="Talk to a person"' in html


def test_the_widget_speaks_german_to_a_german_visitor(
    client: Client, inbox: Inbox, bot: Bot, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    chat_with_bot(client, inbox, visitor, django_capture_on_commit_callbacks)
    html = client.get(
        reverse("chat:widget_conversation", args=[inbox.public_key]),
        headers={"X-Visitor-Token": visitor_token(visitor), "Accept-Language": "de"},
    ).content.decode()
    assert "You're chatting with our assistant." not in html
    assert "Vorgeschlagene Antworten" in html


def test_the_dashboard_lists_and_opens_a_bot_chat_with_a_claim_button(
    client: Client,
    inbox: Inbox,
    bot: Bot,
    agent: Agent,
    visitor: Visitor,
    django_capture_on_commit_callbacks,
) -> None:
    chat_with_bot(client, inbox, visitor, django_capture_on_commit_callbacks)
    conversation = visitor.conversations.get()
    agent_client = logged_in(agent)
    page = agent_client.get(reverse("agents:dashboard")).content.decode()
    assert 'id="list-bot"' in page
    assert f'id="conv-row-{conversation.pk}"' in page
    pane = agent_client.get(reverse("agents:conversation", args=[conversation.pk]))
    html = pane.content.decode()
    assert "With the bot" in html
    assert 'data-action="claim"' in html
    assert "Ten euros." in html  # the bot's part of the conversation
    assert "quick-replies--shown" in html  # what the visitor was offered
    response = agent_client.post(reverse("agents:claim", args=[conversation.pk]))
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == ("active", agent)
