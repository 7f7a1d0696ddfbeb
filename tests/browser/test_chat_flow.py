"""What a newcomer does first: a visitor on a customer's page chats with an agent, live."""

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
    tab_count,
    visitor_starts_chat,
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_logs_in_through_the_login_page(desk: Desk, browser: Browser, agent: Agent) -> None:
    page = new_page(browser)
    page.goto(f"{desk.url}/agents/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/agents/"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{desk.url}/agents/")
    expect(page.locator("#connection-status")).to_have_text("Live")


def test_visitor_and_agent_chat_both_ways_without_a_reload(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    dashboard = agent_page(browser, desk, "alice")
    dashboard.evaluate("window.__sameDocument = true")

    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.get_by_role("log")).to_contain_text("Hello from Acme!")
    send_as_visitor(chat, "Hello, has my order shipped?")
    expect(chat.get_by_role("log")).to_contain_text("Hello, has my order shipped?")

    # The new chat appears in the agent's Waiting list by itself.
    row = dashboard.get_by_role("link", name=re.compile("Hello, has my order shipped"))
    expect(row).to_be_visible()
    expect(tab_count(dashboard, "waiting")).to_have_text("1")
    row.click()
    log = dashboard.get_by_role("log")
    expect(log).to_contain_text("Hello, has my order shipped?")

    dashboard.get_by_role("button", name="Claim").click()
    expect(dashboard.get_by_text("Active · Alice")).to_be_visible()
    expect(tab_count(dashboard, "mine")).to_have_text("1")
    expect(tab_count(dashboard, "waiting")).to_have_text("0")
    expect(chat.get_by_role("log")).to_contain_text("Alice joined the chat.")

    dashboard.get_by_role("textbox", name="Reply").fill("Yes, it left this morning.")
    dashboard.get_by_role("button", name="Send").click()
    expect(chat.get_by_role("log")).to_contain_text("Yes, it left this morning.")

    send_as_visitor(chat, "Great, thanks!")
    expect(log).to_contain_text("Great, thanks!")

    screenshot(visitor, "chat-visitor")
    screenshot(dashboard, "chat-dashboard")
    # Each message once on each side, in order, and the dashboard never reloaded.
    expected = [
        "Hello, has my order shipped?",
        "Alice joined the chat.",
        "Yes, it left this morning.",
        "Great, thanks!",
    ]
    expect(log.locator("li.msg")).to_have_count(4)
    expect(log.locator("li.msg")).to_contain_text(expected)
    expect(chat.locator("li.msg[data-seq]")).to_have_count(4)
    expect(chat.locator("li.msg[data-seq]")).to_contain_text(expected)
    expect(chat.locator("[data-pending]")).to_have_count(0)
    # The greeting stays first, above the conversation.
    expect(chat.locator("li.msg").first).to_have_id("greeting")
    assert dashboard.evaluate("window.__sameDocument") is True
    assert list(Message.objects.order_by("seq").values_list("body", flat=True)) == expected


def test_a_returning_visitor_sees_the_conversation_and_its_replies(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat = visitor_starts_chat(browser, desk.url, "First visit")

    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    expect(chat.get_by_role("log")).to_contain_text("First visit")
    # A reply while the visitor is on the reloaded page still arrives live.
    dashboard = agent_page(browser, desk, "alice")
    dashboard.get_by_role("link", name=re.compile("First visit")).click()
    dashboard.get_by_role("textbox", name="Reply").fill("Welcome back")
    dashboard.get_by_role("textbox", name="Reply").press("Enter")
    expect(chat.get_by_role("log")).to_contain_text("Welcome back")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(3)  # + "Alice joined the chat."


def test_the_client_resumes_from_the_last_gap_free_seq(
    desk: Desk, browser: Browser, agent: Agent
) -> None:
    """A POST's answer can show seq 7 while seq 6 is still on its way: resuming after 7 would
    skip 6 for good, so the client resumes after the highest seq it has without a gap."""
    page = agent_page(browser, desk, "alice")
    cases = {"": 0, "3 4 6": 4, "1 2 3": 3, "5": 5, "7 5 6 9": 7}
    for seqs, expected in cases.items():
        got = page.evaluate(
            """async (seqs) => {
              const { lastSeq } = await import('/static/supportdesk/realtime/log.js');
              const log = document.createElement('ol');
              for (const seq of seqs.split(' ').filter(Boolean)) {
                const li = document.createElement('li');
                li.dataset.seq = seq;
                log.append(li);
              }
              return lastSeq(log);
            }""",
            seqs,
        )
        assert got == expected, seqs
