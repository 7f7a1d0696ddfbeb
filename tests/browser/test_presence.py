"""Presence in a real browser: online, away and offline, live for the team."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    member,
    new_page,
    open_widget,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_presence_is_live_and_closing_every_tab_makes_an_agent_offline(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.locator("#availability")).to_have_text(re.compile("We're away"))
    alice = agent_page(browser, desk, "alice")
    expect(chat.locator("#availability")).to_have_text(re.compile("We're online"))
    bob_one = agent_page(browser, desk, "bob")
    bob_two = agent_page(browser, desk, "bob")
    expect(member(alice, "Bob")).to_have_attribute("data-presence", "online")

    bob_two.get_by_label("My status").select_option("away")
    expect(member(alice, "Bob")).to_have_attribute("data-presence", "away")
    expect(bob_one.get_by_label("My status")).to_have_value("away")  # his other tab follows
    bob_two.get_by_label("My status").select_option("online")
    expect(member(alice, "Bob")).to_have_attribute("data-presence", "online")

    bob_one.context.close()  # one of two tabs: Bob stays online
    alice.wait_for_timeout(2000)  # past the grace period
    expect(member(alice, "Bob")).to_have_attribute("data-presence", "online")
    bob_two.context.close()
    expect(member(alice, "Bob")).to_have_attribute("data-presence", "offline")
    screenshot(alice, "workspace-presence")

    alice.context.close()  # the last agent leaves: the widget says so
    expect(chat.locator("#availability")).to_have_text(re.compile("We're away"))
