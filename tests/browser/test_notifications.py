"""Desktop notifications, the sound and the tab title for a chat arriving in a background tab."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.models import Agent
from chat.models import Inbox, Message
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    new_context,
    send_as_visitor,
    visitor_starts_chat,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# The browser's own Notification and AudioContext still run; this only records what the page
# asked of them, and lets the test put the tab in the background (headless tabs never are).
NOTIFICATION_SPY = """
window.__notifications = [];
window.__beeps = 0;
const RealNotification = window.Notification;
class RecordedNotification extends RealNotification {
  constructor(title, options) {
    super(title, options);
    window.__notifications.push({ title, body: options && options.body });
    window.__lastNotification = this;
  }
}
Object.defineProperty(RecordedNotification, "permission", { get: () => RealNotification.permission });
window.Notification = RecordedNotification;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__beeps += 1;
  return createOscillator.call(this);
};
window.__hidden = false;
Object.defineProperty(Document.prototype, "hidden", { get: () => window.__hidden });
Object.defineProperty(Document.prototype, "visibilityState", {
  get: () => (window.__hidden ? "hidden" : "visible"),
});
"""


def display_name(first_message: str) -> str:
    return Message.objects.get(body=first_message).conversation.visitor.display_name


def notifications_at_least(page: Page, count: int, timeout: float = 10) -> None:
    """Polled from here: the dashboard's CSP (no eval) rules out Playwright's wait_for_function."""
    deadline = time.monotonic() + timeout
    while page.evaluate("window.__notifications.length") < count:
        assert time.monotonic() < deadline, page.evaluate("window.__notifications")
        page.wait_for_timeout(50)
    page.wait_for_timeout(500)  # past the dashboard's gathering time: anything more would show


def test_a_new_chat_in_a_background_tab_notifies_beeps_and_opens_from_the_notification(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    context = new_context(browser)
    context.grant_permissions(["notifications"], origin=desk.url)
    context.add_init_script(NOTIFICATION_SPY)
    alice = agent_page(browser, desk, "alice", context=context)
    # Permission already given: notifications are on. Sound is off until the agent turns it on.
    expect(alice.get_by_role("button", name="Notifications")).to_have_attribute(
        "aria-pressed", "true"
    )
    sound = alice.get_by_role("button", name="Sound", exact=True)
    expect(sound).to_have_attribute("aria-pressed", "false")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    beeps = alice.evaluate("window.__beeps")
    assert beeps == 1  # the toggle plays the sound once, so the agent knows what to listen for

    # Alice works in another tab: this one goes to the background.
    alice.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    _visitor, chat = visitor_starts_chat(browser, desk.url, "Is anyone there?")
    notifications_at_least(alice, 1)
    conversation = inbox.conversations.get()
    assert alice.evaluate("window.__notifications") == [
        {"title": f"New chat: {conversation.visitor.display_name}", "body": "Is anyone there?"}
    ]
    assert alice.evaluate("window.__beeps") == beeps + 1
    expect(alice).to_have_title("(1) Supportdesk")

    # Clicking the notification opens that chat in this tab.
    alice.evaluate("window.__hidden = false; window.__lastNotification.onclick()")
    expect(alice.get_by_role("log")).to_contain_text("Is anyone there?")
    expect(alice.get_by_role("heading", level=1)).to_have_text(conversation.visitor.display_name)

    # In the foreground, with the chat open, a message in it is neither notified nor beeped.
    beeps = alice.evaluate("window.__beeps")
    send_as_visitor(chat, "Hello?")
    expect(alice.get_by_role("log")).to_contain_text("Hello?")
    alice.wait_for_timeout(800)  # twice the dashboard's gathering time (NOTIFY_GATHER_MS)
    assert alice.evaluate("window.__notifications.length") == 1
    assert alice.evaluate("window.__beeps") == beeps

    # Back from standby with five new chats waiting: one summary and one beep, not a flood.
    alice.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    context.set_offline(True)
    expect(alice.locator("#connection-status")).not_to_have_attribute("data-state", "open")
    for i in range(5):
        visitor_starts_chat(browser, desk.url, f"Question {i}")
    waiting = alice.locator("#list-waiting > [data-conversation]")
    expect(waiting).to_have_count(1)  # the first chat, still unclaimed
    context.set_offline(False)
    expect(waiting).to_have_count(6)
    expect(alice).to_have_title("(6) Supportdesk")
    notifications_at_least(alice, 2)
    assert alice.evaluate("window.__notifications.slice(1)") == [
        {"title": "5 chats need you", "body": "Open the desk to see them."}
    ]
    assert alice.evaluate("window.__beeps") == beeps + 1

    # A colleague hands Alice a chat: she is told, though nothing in it is unread.
    bob = agent_page(browser, desk, "bob")
    bob.get_by_role("link", name=re.compile("Question 0")).click()
    bob.get_by_role("button", name="Claim").click()
    bob.get_by_role("button", name="Transfer").click()
    bob.get_by_label("Transfer to").select_option(label="Alice (online)")
    bob.locator(".transfer__form").get_by_role("button", name="Transfer").click()
    notifications_at_least(alice, 3)
    handed = alice.evaluate("window.__notifications.slice(2)")
    assert [n["title"] for n in handed] == [f"Assigned to you: {display_name('Question 0')}"]
