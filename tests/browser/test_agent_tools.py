"""The agent's tools beside the chat: the visitor's context, search, shortcuts, saved replies."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox, Visitor
from chat.services import visitor_message_send
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


def test_the_visitors_page_browser_and_local_time_show_beside_the_chat(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, _chat, alice = visitor_writes_and_alice_opens(
        browser, desk.url, "Which plan suits me?", timezone_id="Asia/Tokyo", locale="fr-FR"
    )
    context = alice.get_by_role("complementary", name="Visitor")
    page_link = context.locator(".context__page a")
    expect(page_link).to_have_text("Acme Widgets — demo shop")  # the host page's title
    expect(page_link).to_have_attribute("href", re.compile(r"/demo/$"))
    expect(context).to_contain_text("Asia/Tokyo")
    expect(context).to_contain_text(re.compile(r"Chrome \d+ on Linux"))
    expect(context).to_contain_text("fr-FR")
    expect(context.locator("[data-local-time]")).to_have_text(re.compile(r"\d\d:\d\d"))
    # The visitor moves on (a single-page site: no reload); the panel follows.
    visitor.evaluate("history.pushState({}, '', '/demo/?page=pricing')")
    expect(page_link).to_have_attribute("href", re.compile(r"/demo/\?page=pricing$"))
    screenshot(alice, "workspace-context")


def test_search_and_the_shortcut_help(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, outsider_agent: Agent
) -> None:
    # Another company's inbox on the same desk: its chat is never Alice's to see, nor hers its.
    elsewhere = Visitor.objects.create(inbox=outsider_agent.inboxes.get())
    visitor_message_send(visitor=elsewhere, body="Our invoice is secret", client_id=uuid4())
    _visitor, _chat = visitor_starts_chat(browser, desk.url, "My invoice shows the wrong address")
    outsider = agent_page(browser, desk, outsider_agent.user.username)
    expect(outsider.locator(".row__link")).to_have_count(1)
    expect(outsider.locator(".row__link")).to_contain_text("Our invoice is secret")
    alice = agent_page(browser, desk, "alice")
    expect(alice.locator(".row__link")).to_have_count(1)
    expect(alice.locator(".row__link")).to_contain_text("My invoice")
    alice.keyboard.press("?")
    help_dialog = alice.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Transfer the open chat")
    screenshot(alice, "workspace-help")
    help_dialog.get_by_role("button", name="Close").click()
    alice.keyboard.press("/")
    search = alice.get_by_role("searchbox", name="Search messages")
    expect(search).to_be_focused()
    search.fill("invoice")
    search.press("Enter")
    result = alice.locator(".result")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text(re.compile("invoice", re.IGNORECASE))
    screenshot(alice, "workspace-search")
    result.get_by_role("link").click()
    expect(alice.get_by_role("log")).to_contain_text("My invoice shows the wrong address")


def test_an_agent_saves_a_reply_and_uses_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Hello?")
    alice = agent_page(browser, desk, "alice")
    # The account menu holds the rarely used links: Escape or a click elsewhere closes it.
    account = alice.get_by_role("button", name="Alice account menu")
    account.click()
    expect(account).to_have_attribute("aria-expanded", "true")
    alice.keyboard.press("Escape")
    expect(alice.get_by_role("link", name="Saved replies")).to_be_hidden()
    expect(account).to_be_focused()
    account.click()  # and when the keyboard leaves it
    alice.keyboard.press("Tab")
    expect(alice.get_by_role("link", name="Saved replies")).to_be_focused()
    items = alice.locator("#account-menu-items .account-menu__item")
    for _ in range(items.count() - 1):  # to Log out, the last of Alice's
        alice.keyboard.press("Tab")
    expect(items.last).to_be_focused()
    alice.keyboard.press("Tab")  # out of the menu
    expect(alice.get_by_role("link", name="Saved replies")).to_be_hidden()
    account.click()
    alice.locator("#pane").click()
    expect(alice.get_by_role("link", name="Saved replies")).to_be_hidden()
    account.click()
    alice.get_by_role("link", name="Saved replies").click()
    alice.get_by_label("Shortcut").fill("thanks")
    alice.get_by_label("Text").fill("Thanks for waiting, I'm on it.")
    alice.get_by_role("button", name="Add").click()
    expect(alice.get_by_role("listitem").filter(has_text="/thanks")).to_be_visible()
    screenshot(alice, "workspace-saved-replies")
    alice.get_by_role("link", name="Back to the dashboard").click()
    alice.get_by_role("link", name=re.compile("Hello\\?")).click()
    reply = alice.get_by_role("textbox", name="Reply")
    reply.press_sequentially("/th")
    reply.press("Tab")
    expect(reply).to_have_value("Thanks for waiting, I'm on it.")
    reply.press("Enter")
    expect(chat.get_by_role("log")).to_contain_text("Thanks for waiting, I'm on it.")
