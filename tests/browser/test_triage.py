"""Triage on the dashboard, in a real browser: how long each visitor waits (live, amber then
red), friendly names and avatars, sorting by the longest wait, labels (put on from the pane or
with `l`, live on a colleague's page, filtered, searched), snooze (out of every dashboard's
lists, back live when the visitor writes), reopening an ended chat (the widget follows),
"Bob is viewing" / "Bob is typing a reply", and the read-only pane after a transfer away."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from agents.models import Agent
from agents.services import conversation_claim
from chat.models import Conversation, Inbox, Label
from tests.agents.helpers import chat, new_visitor
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    end_chat,
    screenshot,
    send_as_visitor,
    tab_count,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_waits_show_live_and_turn_amber_then_red_with_friendly_names_and_avatars(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    inbox.wait_warn_minutes, inbox.wait_alert_minutes = 1, 3
    inbox.save()
    now = timezone.now()
    fresh, warm, late = (chat(new_visitor(inbox), text) for text in ("Fresh", "Warm", "Late"))
    for conversation, ago in ((warm, 90), (late, 4 * 60)):
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=now - timedelta(seconds=ago)
        )
    named = new_visitor(inbox)
    named.name = "Ada Lovelace"
    named.save()
    chat(named, "Known")

    alice = agent_page(browser, desk, "alice")
    alice.clock.install()  # the page's own clock: minutes pass without waiting for them
    alice.reload()
    expect(alice.locator("#connection-status")).to_have_attribute("data-state", "open")
    alice.keyboard.press("1")  # Waiting

    def wait_of(conversation: Conversation):
        return alice.locator(f"#conv-row-{conversation.pk} .row__wait")

    expect(wait_of(fresh)).to_have_text("< 1 min")
    expect(wait_of(fresh)).to_have_attribute("data-level", "")
    expect(wait_of(warm)).to_have_text("1 min")
    expect(wait_of(warm)).to_have_attribute("data-level", "warn")
    expect(wait_of(late)).to_have_text("4 min")
    expect(wait_of(late)).to_have_attribute("data-level", "alert")
    # Names mean something: the name when known, else a friendly one; never "Visitor #N".
    rows = alice.locator("#list-waiting .row__name")
    expect(rows).to_have_count(4)
    names = rows.all_inner_texts()
    assert "Ada Lovelace" in names
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n) for n in names), names
    assert not any("#" in n for n in names)
    ada = alice.locator(".row", has_text="Ada Lovelace").locator(".row__avatar .face")
    expect(ada).to_have_text("AL")
    color = ada.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "transparent")
    screenshot(alice, "triage-waits-1440")

    # Two minutes later, without a reload and without a frame from the server.
    alice.clock.run_for("02:05")
    expect(wait_of(fresh)).to_have_text("2 min")
    expect(wait_of(fresh)).to_have_attribute("data-level", "warn")
    expect(wait_of(warm)).to_have_text("3 min")
    expect(wait_of(warm)).to_have_attribute("data-level", "alert")
    expect(wait_of(late)).to_have_text("6 min")


def test_sort_by_longest_waiting(desk: Desk, browser: Browser, inbox: Inbox, agent: Agent) -> None:
    now = timezone.now()
    patient, impatient = chat(new_visitor(inbox), "Patient"), chat(new_visitor(inbox), "Long")
    for conversation in (patient, impatient):
        conversation_claim(conversation=conversation, agent=agent)
    # The impatient visitor wrote first and is still waiting; the other chat moved last.
    Conversation.objects.filter(pk=impatient.pk).update(
        last_visitor_message_at=now - timedelta(minutes=9),
        last_message_at=now - timedelta(minutes=9),
    )
    Conversation.objects.filter(pk=patient.pk).update(
        last_visitor_message_at=now - timedelta(minutes=1), last_message_at=now
    )
    alice = agent_page(browser, desk, "alice")
    alice.keyboard.press("2")  # Mine
    order = alice.locator("#list-active .row__preview")
    expect(order).to_have_text(["Patient", "Long"])
    alice.get_by_label("Sort").select_option(label="Longest waiting")
    expect(order).to_have_text(["Long", "Patient"])
    alice.reload()  # the choice is remembered
    expect(alice.locator("#list-active .row__preview")).to_have_text(["Long", "Patient"])


def test_labels_from_the_pane_live_for_a_colleague_filtered_and_searched(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    Label.objects.create(inbox=inbox, name="Billing", color="#e03131")
    Label.objects.create(inbox=inbox, name="Bug", color="#1971c2")
    other = chat(new_visitor(inbox), "Unrelated question")
    _visitor, _chat, alice = visitor_writes_and_alice_opens(
        browser, desk.url, "My invoice is wrong"
    )
    bob = agent_page(browser, desk, "bob")
    conversation = Conversation.objects.exclude(pk=other.pk).get()

    alice.keyboard.press("l")
    billing = alice.get_by_role("checkbox", name="Billing")
    expect(billing).to_be_focused()
    billing.check()
    header_labels = alice.locator("#pane .pane__labels .label")
    expect(header_labels).to_have_text(["Billing"])
    # The chip has its colour (set by the page's script: no inline style under the CSP).
    dot = header_labels.first.evaluate("el => getComputedStyle(el, '::before').backgroundColor")
    assert dot == "rgb(224, 49, 49)"
    # Live on Bob's page, without a reload.
    bob_row = bob.locator(f"#conv-row-{conversation.pk}")
    expect(bob_row.locator(".label")).to_have_text(["Billing"])
    expect(alice.get_by_role("log")).to_contain_text("Alice added the label Billing.")
    screenshot(alice, "triage-labels")

    # Bob filters his lists by the label: only that chat.
    bob.get_by_label("Show the chats with the label").select_option(label="Billing")
    expect(bob.locator(f"#conv-row-{other.pk}")).to_be_hidden()
    expect(bob_row).to_be_visible()
    bob.get_by_label("Show the chats with the label").select_option(label="All labels")
    expect(bob.locator(f"#conv-row-{other.pk}")).to_be_visible()

    # And finds it by search.
    search = bob.get_by_role("searchbox", name="Search messages")
    search.fill("label:billing")
    search.press("Enter")
    results = bob.locator(".result")
    expect(results).to_have_count(1)
    expect(results).to_contain_text("My invoice is wrong")

    # Off again from the pane: off everywhere.
    billing.uncheck()
    expect(header_labels).to_have_count(0)
    expect(alice.get_by_role("log")).to_contain_text("Alice removed the label Billing.")


def test_snooze_leaves_every_dashboards_lists_and_comes_back_when_the_visitor_writes(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    _visitor, chat_, alice = visitor_writes_and_alice_opens(browser, desk.url, "Call me later")
    alice.get_by_role("button", name="Claim").click()
    expect(alice.locator(".badge--active")).to_be_visible()
    bob = agent_page(browser, desk, "bob")
    conversation = Conversation.objects.get()
    expect(bob.locator(f"#list-active #conv-row-{conversation.pk}")).to_have_count(1)

    alice.keyboard.press("z")
    menu = alice.get_by_role("group", name="Snooze until")
    menu.get_by_role("button", name="the visitor writes").click()
    expect(alice.locator("#pane .badge--snoozed")).to_have_text("Snoozed until the visitor writes")
    for page in (alice, bob):
        expect(page.locator(f"#list-active #conv-row-{conversation.pk}")).to_have_count(0)
        expect(page.locator(f"#list-snoozed #conv-row-{conversation.pk}")).to_have_count(1)
        expect(tab_count(page, "snoozed")).to_have_text("1")
    expect(tab_count(alice, "mine")).to_have_text("0")
    # The visitor never hears of it.
    expect(chat_.get_by_role("log")).not_to_contain_text("snoozed")
    screenshot(bob, "triage-snoozed")

    send_as_visitor(chat_, "Now is good")
    for page in (alice, bob):
        expect(page.locator(f"#list-active #conv-row-{conversation.pk}")).to_have_count(1)
        expect(tab_count(page, "snoozed")).to_have_text("0")
    expect(alice.locator("#pane .badge--snoozed")).to_have_count(0)
    expect(tab_count(alice, "mine")).to_have_text("1")


def test_reopen_an_ended_chat_and_the_widget_follows_live(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    _visitor, chat_, alice = visitor_writes_and_alice_opens(browser, desk.url, "Quick question")
    alice.get_by_role("button", name="Claim").click()
    expect(alice.locator(".badge--active")).to_be_visible()
    end_chat(alice)
    expect(alice.locator("#pane .badge--ended")).to_be_visible()
    expect(chat_.get_by_role("log")).to_contain_text("Alice ended the chat.")
    widget_state = chat_.locator(".chat-state[data-status]")
    expect(widget_state).to_have_attribute("data-status", "ended")
    expect(alice.locator("#pane .composer")).to_be_hidden()

    alice.get_by_role("button", name="Reopen", exact=True).click()
    expect(alice.locator("#pane .badge--active")).to_have_text("Active · Alice")
    expect(alice.get_by_role("textbox", name="Reply")).to_be_enabled()
    # The pane is an open chat's again: its transfer form and snooze menu work.
    alice.locator("#pane").get_by_role("button", name="Transfer").click()
    expect(alice.get_by_label("Transfer to")).to_be_visible()
    alice.get_by_label("Transfer to").press("Escape")
    alice.keyboard.press("z")
    expect(alice.get_by_role("group", name="Snooze until")).to_be_visible()
    alice.keyboard.press("Escape")
    expect(chat_.get_by_role("log")).to_contain_text("Alice reopened the chat.")
    expect(widget_state).to_have_attribute("data-status", "active")
    # The visitor's next message goes to the same chat, which Alice sees at once.
    send_as_visitor(chat_, "One more thing")
    expect(alice.get_by_role("log")).to_contain_text("One more thing")
    assert Conversation.objects.count() == 1


def test_two_agents_on_one_chat_see_each_other(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    _visitor, _chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Anyone there?")
    bob = agent_page(browser, desk, "bob")
    bob.get_by_role("link", name=re.compile("Anyone there")).click()
    on_alices = alice.locator(".collision__item:not([hidden])")
    expect(on_alices).to_have_text(["Bob is viewing"])
    expect(bob.locator(".collision__item:not([hidden])")).to_have_text(["Alice is viewing"])
    bob.get_by_role("textbox", name="Reply").press_sequentially("Hi, I am")
    expect(on_alices).to_have_text(["Bob is viewing", "Bob is typing a reply…"])
    screenshot(alice, "triage-collision")
    # Bob goes back to his list: Alice no longer sees him.
    bob.goto(desk.url + "/agents/")
    expect(on_alices).to_have_count(0)


def test_after_a_transfer_away_the_pane_is_read_only_at_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    _visitor, _chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Transfer me")
    agent_page(browser, desk, "bob")  # online, to be chosen
    alice.get_by_role("button", name="Claim").click()
    reply = alice.get_by_role("textbox", name="Reply")
    expect(reply).to_be_enabled()
    alice.get_by_role("button", name="Transfer").click()
    alice.get_by_label("Transfer to").select_option(label="Bob (online)")
    alice.locator(".transfer__form").get_by_role("button", name="Transfer").click()
    expect(reply).to_be_disabled()
    reason = alice.locator("#pane .composer__readonly")
    expect(reason).to_contain_text("Bob has this chat: only they can reply.")
    expect(alice.locator("#pane").get_by_role("button", name="Transfer")).to_have_count(0)
    expect(alice.locator("#pane").get_by_role("button", name="End chat")).to_have_count(0)
    expect(alice.locator("#pane .composer__send")).to_be_disabled()
    # An internal note is still possible.
    alice.get_by_role("radio", name="Internal note").check()
    expect(alice.get_by_role("textbox", name="Internal note")).to_be_enabled()
    screenshot(alice, "triage-read-only")
