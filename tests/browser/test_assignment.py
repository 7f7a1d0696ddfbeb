"""Assignment as agents use it all day, in a real browser: automatic assignment, notes, saved
replies, transfer and ending, claims racing, and a quiet chat auto-ending, all live."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from agents.models import Agent, CannedResponse
from chat.models import Conversation, Inbox, Message
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    confirm_end,
    member,
    new_page,
    open_widget,
    reply_as_agent,
    screenshot,
    send_as_visitor,
    tab_count,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_assignment_notes_saved_replies_transfer_and_end_live(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    inbox.assignment = Inbox.Assignment.AUTO
    inbox.save()
    CannedResponse.objects.create(
        inbox=inbox, shortcut="refund", body="Refunds take 3-5 business days."
    )
    alice = agent_page(browser, desk, "alice")
    alice.evaluate("window.__sameDocument = true")
    bob = agent_page(browser, desk, "bob")
    expect(member(alice, "Bob")).to_have_attribute("data-presence", "online")

    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.locator("#availability")).to_have_text(re.compile("We're online"))
    send_as_visitor(chat, "I need a refund for order 1234")

    # Automatic assignment: Alice (equally free, never assigned) gets it, live on both sides.
    expect(chat.get_by_role("log")).to_contain_text("Alice joined the chat.")
    expect(tab_count(alice, "mine")).to_have_text("1")
    expect(tab_count(bob, "mine")).to_have_text("0")
    # Unread until Alice opens it: a badge on the row and a count in the tab title.
    expect(alice.locator(".unread:not([hidden])")).to_have_text(re.compile("^1"))
    expect(alice).to_have_title("(1) Supportdesk")
    alice.keyboard.press("2")  # the Mine tab
    expect(alice.get_by_role("tab", name=re.compile("Mine"))).to_have_attribute(
        "aria-selected", "true"
    )
    alice.locator("#list-active .row__link").click()
    expect(alice.get_by_role("log")).to_contain_text("I need a refund")
    expect(alice).to_have_title("Supportdesk")
    expect(alice.locator(".unread:not([hidden])")).to_have_count(0)

    # An internal note ("n"): agents see it, the visitor never does.
    alice.keyboard.press("n")
    note_box = alice.get_by_role("textbox", name="Internal note")
    expect(note_box).to_be_focused()
    note_box.fill("Customer is a VIP, approve at once")
    note_box.press("Enter")
    expect(alice.locator(".msg--note")).to_contain_text("Customer is a VIP")

    # A saved reply: "/" and the start of its shortcut, Enter picks it, Enter sends it.
    alice.keyboard.press("Escape")  # leave the note box, then "r" for a reply
    alice.keyboard.press("r")
    reply = alice.get_by_role("textbox", name="Reply")
    reply.press_sequentially("/ref")
    expect(alice.get_by_role("option", name=re.compile("refund Refunds take"))).to_be_visible()
    reply.press("Enter")
    expect(reply).to_have_value("Refunds take 3-5 business days.")
    reply.press("Enter")
    expect(chat.get_by_role("log")).to_contain_text("Refunds take 3-5 business days.")
    expect(chat.get_by_role("log")).not_to_contain_text("VIP")

    # Transfer to Bob with a note for him.
    alice.keyboard.press("Escape")
    alice.keyboard.press("t")
    transfer_to = alice.get_by_label("Transfer to")
    expect(transfer_to).to_be_focused()
    alice.keyboard.press("Escape")  # changed her mind: the form closes
    expect(transfer_to).to_be_hidden()
    alice.keyboard.press("t")
    # Offered: colleagues only (not Alice, who has the chat), with their presence as it is now.
    choices = transfer_to.locator("option:not([disabled])")
    expect(choices).to_have_text(["Choose a colleague…", "Bob (online)"])
    transfer_to.select_option(label="Bob (online)")
    alice.get_by_label("Note for them").fill("Please finish the refund")
    screenshot(alice, "workspace-transfer")
    alice.locator(".transfer__form").get_by_role("button", name="Transfer").click()
    # The visitor hears who they talk to now; who handed over to whom stays among agents.
    expect(chat.get_by_role("log")).to_contain_text("You're now chatting with Bob.")
    expect(chat.get_by_role("log")).not_to_contain_text("transferred")
    expect(alice.get_by_role("log")).to_contain_text("Alice transferred the chat to Bob.")
    expect(tab_count(bob, "mine")).to_have_text("1")
    expect(tab_count(alice, "mine")).to_have_text("0")
    bob.keyboard.press("2")
    bob.locator("#list-active .row__link").click()
    expect(bob.locator(".msg--note")).to_contain_text(
        ["Customer is a VIP, approve at once", "Please finish the refund"]
    )

    # Bob ends it with "e" (after confirming, in the page); both sides see it at once.
    bob.keyboard.press("e")
    confirm_end(bob)
    expect(chat.locator(".chat-state")).to_contain_text("This chat has ended")
    expect(alice.locator("#list-ended .row")).to_have_count(1)
    screenshot(bob, "workspace-ended")
    screenshot(visitor, "workspace-visitor")
    assert alice.evaluate("window.__sameDocument") is True
    kinds = list(Message.objects.order_by("seq").values_list("sender_kind", flat=True))
    assert kinds == ["visitor", "system", "note", "agent", "system", "note", "system"]


def test_two_agents_claim_at_once_one_wins_and_the_other_is_told(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    _visitor, _chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Who takes me?")
    bob = agent_page(browser, desk, "bob")
    bob.get_by_role("link", name=re.compile("Who takes me")).click()
    expect(bob.get_by_role("button", name="Claim")).to_be_visible()
    # Both press Claim at the same moment (one clock: both pages run on this machine).
    at = alice.evaluate("Date.now() + 500")
    for page in (alice, bob):
        page.evaluate(
            """at => setTimeout(
                () => document.querySelector('[data-action=claim]').click(), at - Date.now()
            )""",
            at,
        )
    conversation = Conversation.objects.get()
    expect(alice.locator(".badge--active")).to_be_visible()
    expect(bob.locator(".badge--active")).to_be_visible()
    conversation.refresh_from_db()
    winner = conversation.assigned_agent.display_name
    loser_page = bob if winner == "Alice" else alice
    expect(loser_page.get_by_role("alert")).to_have_text(f"{winner} already took this chat.")
    for page in (alice, bob):
        expect(page.locator(".badge--active")).to_have_text(f"Active · {winner}")
    screenshot(loser_page, "workspace-claim-lost")
    joined = Message.objects.filter(conversation=conversation, sender_kind="system")
    assert [m.body for m in joined] == [f"{winner} joined the chat."]


def test_a_quiet_chat_auto_ends_live_and_the_visitors_next_message_follows_it(
    desk_factory: Callable[..., Desk], browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    """No cron here: the desk's own heartbeats run housekeeping, as on a desk with agents at work."""
    server = desk_factory(SUPPORTDESK_HEARTBEAT_SECONDS="1", SUPPORTDESK_HOUSEKEEPING_SECONDS="1")
    inbox.auto_end_minutes = 30
    inbox.save()
    _visitor, chat, alice = visitor_writes_and_alice_opens(browser, server.url, "Are you there?")
    alice.get_by_role("button", name="Claim").click()
    alice.get_by_role("button", name="Transfer").click()  # Alice is the inbox's only agent
    transfer_to = alice.get_by_label("Transfer to")
    expect(transfer_to.locator("option:not([disabled])")).to_have_text(
        ["No one else works in this inbox"]
    )
    transfer_to.press("Escape")
    reply_as_agent(alice, "Yes! How can I help?")
    expect(chat.get_by_role("log")).to_contain_text("How can I help?")
    old = Conversation.objects.get()
    # Half an hour later the visitor still has not answered.
    half_an_hour_ago = timezone.now() - timedelta(minutes=31)
    Conversation.objects.filter(pk=old.pk).update(
        last_visitor_message_at=half_an_hour_ago - timedelta(seconds=5),
        last_agent_message_at=half_an_hour_ago,
    )

    closed = "This chat was closed after 30 minutes of inactivity."
    expect(chat.get_by_role("log")).to_contain_text(closed)
    expect(chat.locator(".chat-state[data-status]")).to_contain_text("This chat has ended")
    expect(alice.get_by_role("log")).to_contain_text(closed)
    expect(alice.locator("#list-ended .row")).to_have_count(1)

    # The visitor writes again: a new chat, in the queue, that says which one it follows.
    send_as_visitor(chat, "One more question")
    alice.get_by_role("link", name=re.compile("One more question")).click()
    visitor_panel = alice.get_by_role("complementary", name="Visitor")
    follows = visitor_panel.locator("dt", has_text="Follows").locator("+ dd").get_by_role("link")
    expect(follows).to_have_text(f"chat #{old.pk}")
    expect(alice.get_by_role("log")).not_to_contain_text("Are you there?")
    follows.click()
    expect(alice.get_by_role("log")).to_contain_text("Are you there?")
    assert Conversation.objects.get(previous=old).status == Conversation.Status.WAITING
