"""The inbox's bot, as the issue tells it (issue 19, item 5): a bot answers the first message,
the visitor asks for a human, the chat joins the queue, an agent claims it and sees the bot's
earlier messages. In a real browser, live on both sides."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from bots.models import Bot, BotRule
from chat.models import Conversation, Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
    tab_count,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_bot_answers_the_visitor_asks_for_a_person_and_an_agent_claims_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    bot = Bot.objects.create(inbox=inbox, name="Robo")
    BotRule.objects.create(
        bot=bot,
        keywords="price, cost",
        answer="Plans start at 10 € a month.",
        quick_replies="Is there a free trial?",
    )
    alice = agent_page(browser, desk, "alice")

    visitor = new_page(browser, viewport={"width": 900, "height": 760})
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "What does it cost?")

    # The bot answers the first message, named and marked, with buttons to answer it.
    answer = chat.locator("li.msg--bot")
    expect(answer).to_contain_text("Plans start at 10 € a month.")
    expect(answer.locator(".msg__author")).to_contain_text("Robo")
    expect(answer.locator(".msg__bot-mark")).to_have_text("Bot")
    trial = chat.get_by_role("button", name="Is there a free trial?")
    person = chat.get_by_role("button", name="Talk to a person")
    expect(trial).to_be_visible()
    expect(person).to_be_visible()
    expect(chat.locator(".chat-state[data-status]")).to_contain_text(
        "You're chatting with our assistant."
    )
    expect(chat.locator(".chat-state[data-status]")).not_to_contain_text("ended")
    screenshot(visitor, "bot-widget-quick-replies")

    # On the dashboard, live: listed "With the bot", nobody's to answer yet.
    expect(alice.locator("#list-bot .row")).to_have_count(1)
    expect(tab_count(alice, "waiting")).to_have_text("0")

    # The visitor asks for a person, by keyboard: the button sends its text as their message.
    person.focus()
    person.press("Enter")
    log = chat.get_by_role("log")
    expect(log).to_contain_text("You asked for a person: someone from the team will join shortly.")
    expect(chat.locator("li.msg--visitor", has_text="Talk to a person")).to_have_count(1)
    expect(chat.locator(".quick-replies__button")).to_have_count(2)  # in the page, but hidden
    expect(person).to_be_hidden()
    expect(chat.locator(".chat-state[data-status]")).to_contain_text("Waiting for an agent")

    # The chat joins the queue: on Alice's dashboard under Waiting, live.
    expect(tab_count(alice, "waiting")).to_have_text("1")
    expect(alice.locator("#list-waiting .row")).to_have_count(1)
    expect(alice.locator("#list-bot .row")).to_have_count(0)

    # Alice opens it and sees the bot's part, then claims it.
    alice.locator("#list-waiting .row__link").click()
    pane_log = alice.get_by_role("log")
    expect(pane_log).to_contain_text("What does it cost?")
    expect(pane_log).to_contain_text("Plans start at 10 € a month.")
    expect(pane_log.locator(".msg--bot .msg__author")).to_contain_text("Robo")
    expect(pane_log).to_contain_text("You asked for a person")
    screenshot(alice, "bot-dashboard-handover")
    alice.get_by_role("button", name="Claim").click()
    expect(alice.locator(".pane__header .badge")).to_have_text(re.compile("Active"))
    expect(log).to_contain_text("Alice joined the chat.")
    expect(chat.locator(".chat-state[data-status]")).to_contain_text("You're chatting with Alice.")
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.assigned_agent) == ("active", agent)
    assert conversation.first_response_at is None  # the bot's answers are no person's
