"""What shows live on both sides without a message: typing, read receipts, the unread badge."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox, Message
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
    visitor_starts_chat,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_shows_on_the_other_side_and_goes_away_by_itself(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Are you there?")
    reply = alice.get_by_role("textbox", name="Reply")
    expect(alice.get_by_role("log")).to_contain_text("Are you there?")

    reply.press_sequentially("Yes, one mo")
    indicator = chat.locator(".typing:not([hidden])")
    expect(indicator).to_have_text(re.compile("Alice is typing…"))
    screenshot(visitor, "widget-typing")
    reply.press("Enter")  # sending stops it at once
    expect(chat.get_by_role("log")).to_contain_text("Yes, one mo")
    expect(indicator).to_have_count(0)

    chat.get_by_role("textbox", name="Message").press_sequentially("thanks a lot")
    visitor_typing = alice.locator(".typing:not([hidden])")
    expect(visitor_typing).to_have_text(re.compile("is typing…"))
    visitor.context.close()  # the visitor vanishes mid-word: the indicator expires by itself
    expect(visitor_typing).to_have_count(0, timeout=9000)
    assert Message.objects.count() == 3  # typing stored nothing


def test_read_receipts_turn_one_tick_into_two_live(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Did you get my order?")
    mine = chat.locator(".msg--mine", has_text="Did you get my order?")
    expect(mine.locator(".msg__state")).to_have_text("✓")  # stored, not yet read
    alice = agent_page(browser, desk, "alice")
    expect(mine.locator(".msg__state")).to_have_text("✓")  # a list row is not reading
    alice.get_by_role("link", name=re.compile("Did you get my order")).click()
    expect(mine.locator(".msg__state")).to_have_text("✓✓")
    expect(mine.locator(".msg__state")).to_have_attribute("aria-label", "Read")

    reply = alice.get_by_role("textbox", name="Reply")
    reply.fill("Yes, it ships today.")
    reply.press("Enter")
    answer = alice.locator(".msg--mine", has_text="Yes, it ships today.")
    expect(answer.locator(".msg__state")).to_have_text("✓✓")  # the chat is open: read at once
    screenshot(visitor, "widget-receipts")

    visitor.get_by_role("button", name="Close chat").click()
    reply.fill("Anything else?")
    reply.press("Enter")
    later = alice.locator(".msg--mine", has_text="Anything else?")
    expect(later.locator(".msg__state")).to_have_text("✓")
    alice.wait_for_timeout(500)
    expect(later.locator(".msg__state")).to_have_text("✓")  # closed widget: not read
    visitor.get_by_role("button", name="Open chat").click()
    expect(later.locator(".msg__state")).to_have_text("✓✓")


def test_the_launcher_counts_unseen_agent_messages_and_leaves_the_page_title_alone(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat = visitor_starts_chat(browser, desk.url, "Ping me when it's done")
    title = visitor.title()
    visitor.get_by_role("button", name="Close chat").click()
    launcher = visitor.get_by_role("button", name=re.compile("^Open chat"))
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Ping me")).click()
    for text in ("Done!", "Anything else?"):
        reply = alice.get_by_role("textbox", name="Reply")
        reply.fill(text)
        reply.press("Enter")
        expect(alice.get_by_role("log")).to_contain_text(text)
    expect(launcher).to_have_accessible_name("Open chat, 2 unread messages")
    expect(visitor.locator("#supportdesk-widget .badge")).to_have_text("2")
    screenshot(visitor, "widget-launcher-badge")
    assert visitor.title() == title
    # A reload keeps the count (it comes from the server's read mark), opening clears it.
    visitor.reload()
    expect(launcher).to_have_accessible_name("Open chat, 2 unread messages")
    launcher.click()
    expect(chat.get_by_role("log")).to_contain_text("Anything else?")
    visitor.get_by_role("button", name="Close chat").click()
    expect(visitor.get_by_role("button", name="Open chat", exact=True)).to_be_visible()
    assert visitor.title() == title
