"""The widget's conversation as visitors read it: day labels and links, the place in line,
rating, earlier conversations, and a long chat."""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox, Message
from chat.services import visitor_message_send
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    bubbles,
    end_chat,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
    visitor_starts_chat,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_widget_labels_days_links_safely_and_never_scrolls_under_the_reader(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:

    visitor = new_page(browser, viewport={"width": 1000, "height": 700})
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Yesterday's question")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    Message.objects.update(created_at=timezone.now() - timedelta(days=1))
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Yesterday's question")).click()
    reply = alice.get_by_role("textbox", name="Reply")
    for n in range(14):
        reply.fill(f"Line {n} of a long answer, see https://example.com/docs/{n}")
        reply.press("Enter")
    log = chat.get_by_role("log")
    expect(log).to_contain_text("Line 13 of a long answer")
    visitor.reload()  # the old message shows under "Yesterday", today's under "Today"
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()
    expect(log.locator("[data-day]")).to_have_count(2)
    expect(log.locator("[data-day]").first).to_have_attribute("data-day", "Yesterday")
    expect(log.locator("[data-day]").nth(1)).to_have_attribute("data-day", "Today")
    link = log.get_by_role("link", name="https://example.com/docs/13")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "nofollow noopener noreferrer")

    log.evaluate("el => { el.scrollTop = 0; }")  # the visitor reads back
    reply.fill("One more thing")
    reply.press("Enter")
    new_messages = chat.get_by_role("button", name="New messages")
    expect(new_messages).to_be_visible()
    assert log.evaluate("el => el.scrollTop") == 0  # not moved under the reader's eyes
    screenshot(visitor, "widget-new-messages")
    new_messages.click()
    expect(new_messages).to_be_hidden()
    expect(log.get_by_text("One more thing")).to_be_in_viewport()


def test_a_waiting_visitor_sees_their_place_in_line_move_up(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    first = new_page(browser)
    first_chat = open_widget(first, desk.url)
    send_as_visitor(first_chat, "First!")
    expect(first_chat.locator(".queue")).to_have_text("You are number 1 in line.")
    second = new_page(browser)
    second_chat = open_widget(second, desk.url)
    send_as_visitor(second_chat, "Second!")
    queue = second_chat.locator(".queue")
    expect(queue).to_have_text("You are number 2 in line.")
    screenshot(second, "widget-queue")
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("First!")).click()
    alice.get_by_role("button", name="Claim").click()
    # The first chat waited seconds: now there is a real wait to estimate from.
    expect(queue).to_have_text("You are number 1 in line · estimated wait under a minute.")
    alice.get_by_role("link", name=re.compile("Second!")).click()
    alice.get_by_role("button", name="Claim").click()
    expect(second_chat.locator(".chat-state[data-status]")).to_have_text(
        re.compile("You're chatting with Alice")
    )
    expect(queue).to_be_hidden()


def test_a_visitor_rates_the_ended_chat_and_the_agent_sees_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Thanks for the help")
    end_chat(alice)
    rating = chat.get_by_role("group", name="How was this chat?")
    expect(rating).to_be_visible()
    chat.locator(".rating__stars label").filter(has_text="4 out of 5").click()  # the 4th star
    expect(chat.get_by_role("radio", name="4 out of 5")).to_be_checked()
    chat.get_by_role("textbox", name="Comment (optional)").fill("Quick and kind")
    screenshot(visitor, "widget-rating")
    chat.get_by_role("button", name="Send rating").click()
    expect(chat.locator(".rating__thanks")).to_have_text(
        "You rated this chat 4 out of 5. Thank you!"
    )
    # Live beside the chat, no reload.
    expect(alice.locator(".context__rating")).to_contain_text("4/5 — “Quick and kind”")


def test_a_returning_visitor_finds_earlier_conversations_folded_above(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "My first question")
    end_chat(alice)
    expect(chat.locator(".chat-state[data-status]")).to_have_attribute("data-status", "ended")
    send_as_visitor(chat, "Back with another one")
    expect(chat.locator("#conversation > .log > li.msg[data-seq]")).to_have_count(1)  # the new chat

    visitor.reload()
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()
    history = chat.get_by_text("Earlier conversation (1)")
    expect(history).to_be_visible()
    expect(chat.get_by_text("My first question")).to_be_hidden()  # folded
    history.click()
    expect(chat.get_by_text("My first question")).to_be_visible()
    screenshot(visitor, "widget-history")
    # The current conversation still resumes from its own seq: a reply arrives once, live.
    alice.locator(".row__link", has_text="Back with another one").click()
    reply = alice.get_by_role("textbox", name="Reply")
    reply.fill("Welcome back!")
    reply.press("Enter")
    main_log = chat.locator("#conversation > .log")
    expect(main_log.locator(":scope > li.msg[data-seq]")).to_have_count(3)  # + joined + reply
    expect(main_log).to_contain_text("Welcome back!")


def test_a_long_chat_opens_at_its_newest_messages_and_earlier_ones_load_above(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    _visitor, chat = visitor_starts_chat(browser, desk.url, "line 1")
    stored = Message.objects.get(body="line 1")
    for i in range(2, 86):
        visitor_message_send(
            visitor=stored.conversation.visitor, body=f"line {i}", client_id=uuid4()
        )

    alice = agent_page(browser, desk, "alice")
    alice.locator(".row__link", has_text="line 85").click()
    log = alice.locator("#pane .log")
    expect(log.locator("li.msg[data-seq]")).to_have_count(40)
    expect(log.locator("li.msg[data-seq]").first).to_contain_text("line 46")
    more = alice.get_by_role("button", name="Show earlier messages")
    more.click()
    expect(log.locator("li.msg[data-seq]")).to_have_count(80)
    # What the agent was reading stays in place: the earlier page is above it, out of view.
    expect(log.get_by_text("line 46", exact=True)).to_be_in_viewport()
    expect(log.get_by_text("line 6", exact=True)).not_to_be_in_viewport()
    more.click()
    expect(log.locator("li.msg[data-seq]")).to_have_count(85)
    expect(more).to_have_count(0)
    assert bubbles(log) == [f"line {i}" for i in range(1, 86)]
    expect(log.locator("li.msg[data-seq] time").first).not_to_be_empty()  # localized, as live
    screenshot(alice, "pane-earlier-messages")
    # Live messages still land at the bottom, once.
    send_as_visitor(chat, "line 86")
    expect(log.locator("li.msg[data-seq]")).to_have_count(86)
    assert bubbles(log)[-1] == "line 86"

    # A search hit far up the chat opens it at that message, marked, with everything after it.
    alice.get_by_role("searchbox", name="Search messages").fill("line 12")
    alice.get_by_role("searchbox", name="Search messages").press("Enter")
    alice.locator(".result a").filter(has_text="line 12").click()
    found = log.locator("li.msg--found")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("line 12")
    expect(found).to_be_in_viewport()
    expect(log.locator("li.msg[data-seq]")).to_have_count(86 - 12 + 1 + 5)  # 5 before it
    screenshot(alice, "pane-search-hit")
    # Reading up there, Alice has not seen what arrives at the bottom: it stays unread, as
    # line 86 did (it came while she read the top of the chat).
    send_as_visitor(chat, "line 87")
    row_badge = alice.locator("#conv-row-" + str(stored.conversation_id) + " .unread")
    expect(row_badge).to_have_text(re.compile("^2"))
    expect(found).to_be_in_viewport()  # not pulled away from what she reads
    alice.get_by_role("button", name="New messages ↓").click()
    expect(log.get_by_text("line 87", exact=True)).to_be_in_viewport()
    expect(row_badge).to_be_hidden()
