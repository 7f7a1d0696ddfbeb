"""The agent workspace as agents use it all day, in a real browser: automatic assignment,
presence, unread counts and the tab title, notes, saved replies, transfer, shortcuts, search,
and the visitor's context, all live and without a reload."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from agents.models import Agent, CannedResponse
from chat.models import Conversation, Inbox, Message, Visitor
from chat.services import visitor_message_send
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    bubbles,
    customer_site,
    new_context,
    new_page,
    open_widget,
    reply_as_agent,
    screenshot,
    send_as_visitor,
    tab_count,
    visitor_starts_chat,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def member(dashboard: Page, name: str):
    return dashboard.locator(".member", has_text=name)


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
    expect(chat.get_by_role("log")).to_contain_text("Alice transferred the chat to Bob.")
    expect(tab_count(bob, "mine")).to_have_text("1")
    expect(tab_count(alice, "mine")).to_have_text("0")
    bob.keyboard.press("2")
    bob.locator("#list-active .row__link").click()
    expect(bob.locator(".msg--note")).to_contain_text(
        ["Customer is a VIP, approve at once", "Please finish the refund"]
    )

    # Bob ends it with "e" (after confirming); both sides see it at once.
    asked: list[str] = []
    bob.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    bob.keyboard.press("e")
    expect(chat.locator(".chat-state")).to_contain_text("This chat has ended")
    expect(alice.locator("#list-ended .row")).to_have_count(1)
    assert asked == ["End this chat?"]
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
    # Permission already given: nothing to ask for. Sound is off until the agent turns it on.
    expect(alice.get_by_role("button", name="Enable notifications")).to_be_hidden()
    alice.get_by_role("button", name="Sound off").click()
    expect(alice.get_by_role("button", name="Sound on")).to_have_attribute("aria-pressed", "true")
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
    alice.keyboard.press("Tab")  # Log out, the last of Alice's
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


def test_the_widget_labels_days_links_safely_and_never_scrolls_under_the_reader(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    from datetime import timedelta

    from django.utils import timezone

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
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.get_by_role("button", name="End chat").click()
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
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.get_by_role("button", name="End chat").click()
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


def test_the_embed_leaves_a_hostile_host_page_alone_and_vice_versa(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    html = f"""<!doctype html><title>Shop</title>
    <style>* {{ color: red !important; font-family: serif !important; }}
    button {{ display: none !important; }} iframe {{ width: 1px !important; }}</style>
    <script>window.__before = Object.keys(window);</script>
    <main id="host">Our shop</main>
    <script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}" async></script>"""

    with customer_site(lambda _path: html) as shop:
        page = new_page(browser)
        page.goto(f"{shop}/")
        launcher = page.get_by_role("button", name="Open chat")
        expect(launcher).to_be_visible()  # the host's `button { display: none }` cannot reach it
        launcher.click()
        chat = page.frame_locator('iframe[title="Chat"]')
        expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
        width = page.locator("#supportdesk-widget").evaluate(
            "host => host.shadowRoot.querySelector('iframe').getBoundingClientRect().width"
        )
        assert width > 300  # nor its `iframe { width: 1px }`
        added = page.evaluate(
            "Object.keys(window).filter(k => k !== '__before' && !window.__before.includes(k))"
        )
        assert sorted(added) == ["__supportdesk"]
        assert page.title() == "Shop"
        host_color = page.locator("#host").evaluate("el => getComputedStyle(el).color")
        assert host_color == "rgb(255, 0, 0)"  # and the widget does not touch the host's


def test_the_widget_speaks_the_browsers_language_and_the_inbox_has_its_look(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    inbox.widget_title = "Acme Hilfe"
    inbox.accent_color = "#2b8a3e"
    inbox.launcher_position = Inbox.LauncherPosition.LEFT
    inbox.save()
    visitor = new_page(browser, locale="de-DE")
    visitor.goto(f"{desk.url}/demo/")
    launcher = visitor.get_by_role("button", name="Chat öffnen")
    expect(launcher).to_be_visible()
    # The launcher shows once the widget page has told it the inbox's look.
    visitor.wait_for_function(
        "() => document.getElementById('supportdesk-widget').shadowRoot.querySelector('.left')"
    )
    assert launcher.bounding_box()["x"] < 100  # bottom left, as the inbox says
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(43, 138, 62)"
    launcher.click()
    chat = visitor.frame_locator('iframe[title="Chat"]')
    expect(chat.get_by_role("heading", name="Acme Hilfe")).to_be_visible()
    expect(chat.locator("#availability")).to_have_text(re.compile("Wir sind gerade nicht da"))
    box = chat.get_by_role("textbox", name="Nachricht")
    expect(box).to_have_attribute("placeholder", "Nachricht schreiben…")
    box.fill("Hallo, ist jemand da?")
    chat.get_by_role("button", name="Senden", exact=True).click()
    # Rendered by the socket, in German too: the state line and the place in line.
    expect(chat.locator(".chat-state[data-status]")).to_have_text(
        re.compile("Warten auf einen Mitarbeiter")
    )
    expect(chat.locator(".queue")).to_have_text("Sie sind Nummer 1 in der Warteschlange.")
    send_button = chat.locator(".composer__send")
    assert send_button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(43, 138, 62)"
    screenshot(visitor, "widget-german")
    # Lines stored for everyone stay in the desk's language, whoever caused them.
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Hallo, ist jemand da")).click()
    alice.get_by_role("button", name="Claim").click()
    expect(chat.get_by_role("log")).to_contain_text("Alice joined the chat.")
    expect(chat.locator(".chat-state[data-status]")).to_have_text(
        re.compile("Sie chatten mit Alice")
    )


def test_the_widget_works_by_keyboard_alone_and_fills_a_phone_screen(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    page = new_page(browser)
    held = []  # the widget page, held back: a slow network
    page.route(re.compile(r"/widget/[^/]+/$"), lambda route: held.append(route))
    page.goto(f"{desk.url}/demo/")
    launcher = page.get_by_role("button", name="Open chat")
    while not held:
        page.wait_for_timeout(50)
    # Until the chat can listen, its launcher is neither shown nor reachable by Tab: a key
    # pressed on it would open a frame that never heard it was opened.
    unready = page.locator("#supportdesk-widget .launcher")  # hidden: not in the a11y tree
    expect(unready).to_be_hidden()
    for _ in range(6):
        page.keyboard.press("Tab")
    expect(unready).not_to_be_focused()
    held[0].continue_()
    expect(launcher).to_be_visible()
    page.locator("body").focus()
    for _ in range(6):  # Tab through the host page to the launcher
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b.matches(':focus-visible')"):
            break
    expect(launcher).to_be_focused()
    assert launcher.evaluate("b => getComputedStyle(b).outlineStyle") != "none"  # visible focus
    page.keyboard.press("Enter")
    chat = page.frame_locator('iframe[title="Chat"]')
    box = chat.get_by_role("textbox", name="Message")
    expect(box).to_be_focused()  # straight into the message box
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Enter")
    log = chat.get_by_role("log")  # a live region: screen readers announce new messages
    expect(log.locator("li.msg[data-seq]")).to_contain_text(["Typed without a mouse"])
    page.keyboard.press("Escape")
    expect(chat.get_by_role("textbox", name="Message")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("^Open chat"))).to_be_focused()

    phone = new_page(browser, viewport={"width": 390, "height": 780}, is_mobile=True)
    phone.goto(f"{desk.url}/demo/")
    phone.get_by_role("button", name="Open chat").click()
    frame = phone.locator("#supportdesk-widget").evaluate(
        "h => { const r = h.shadowRoot.querySelector('iframe').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; }"
    )
    assert frame == [0, 0, 390, 780]  # the whole screen
    screenshot(phone, "widget-phone")


def test_out_of_hours_the_widget_says_when_and_takes_an_email_and_the_chat_still_queues(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from chat.hours import next_opening

    tomorrow = timezone.now().astimezone(ZoneInfo("Europe/Berlin")).isoweekday() % 7 + 1
    inbox.time_zone = "Europe/Berlin"
    inbox.opens_at, inbox.closes_at, inbox.open_days = time(9), time(17), str(tomorrow)
    inbox.save()
    opens = next_opening(inbox)
    alice = agent_page(browser, desk, "alice")  # online, but the inbox is closed
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.locator("#availability")).to_have_text(
        f"We're closed — we open again {opens:%A %H:%M} (Europe/Berlin). "
        "Leave a message and we'll reply then."
    )
    send_as_visitor(chat, "Can someone call me back?")
    email = chat.get_by_role("textbox", name="Your email, so we can reply:")
    email.fill("ann@example.com")
    chat.get_by_role("button", name="Save").click()
    expect(chat.get_by_text("We'll reply to you at ann@example.com.")).to_be_visible()
    screenshot(visitor, "widget-closed")
    row = alice.get_by_role("link", name=re.compile("Can someone call me back"))
    expect(row).to_be_visible()  # the message reached the queue all the same
    row.click()
    expect(alice.get_by_role("complementary", name="Visitor")).to_contain_text("ann@example.com")


def test_an_inbox_with_a_pre_chat_form_asks_name_and_email_first_and_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    inbox.prechat_form = True
    inbox.save()
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.get_by_role("textbox", name="Name")).to_be_focused()
    expect(chat.get_by_role("textbox", name="Message")).to_be_hidden()
    chat.get_by_role("textbox", name="Name").fill("Ann Lee")
    chat.get_by_role("textbox", name="Email").fill("not-an-address")
    chat.get_by_role("button", name="Start chat").click()
    expect(chat.get_by_role("alert")).to_contain_text("valid email")
    chat.get_by_role("textbox", name="Email").fill("ann@example.com")
    screenshot(visitor, "widget-prechat")
    chat.get_by_role("button", name="Start chat").click()
    send_as_visitor(chat, "Hello, it's Ann")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    # Nobody is online, but the address is known: the widget does not ask for it again.
    expect(chat.locator("#availability")).to_have_attribute("data-online", "false")
    expect(chat.get_by_text("Your email, so we can reply:")).to_be_hidden()
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Hello, it's Ann")).click()
    context = alice.get_by_role("complementary", name="Visitor")
    expect(context).to_contain_text("Ann Lee")
    expect(context).to_contain_text("ann@example.com")
    visitor.reload()  # asked once
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()
    expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
    expect(chat.get_by_role("textbox", name="Name")).to_be_hidden()


def test_a_signed_in_user_has_their_chat_on_every_device_and_a_shared_computer_forgets_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    import time

    from chat.identity import identity_signature

    def shop_page(path: str) -> str:
        """The customer's site: /account is Ann signed in (signed fresh per page), / is nobody."""
        tag = f'<script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}"'
        if path.startswith("/account"):
            ts = int(time.time())
            sig = identity_signature(
                inbox.identity_secret, user_id="42", email="ann@example.com", timestamp=ts
            )
            tag += (
                f' data-user-id="42" data-user-email="ann@example.com" data-user-name="Ann"'
                f' data-user-timestamp="{ts}" data-user-signature="{sig}"'
            )
        return (
            '<!doctype html><meta name="viewport" content="width=device-width">'
            f"<title>Shop</title><main>Shop</main>{tag} async></script>"
        )

    with customer_site(shop_page) as shop:
        laptop = new_page(browser)
        laptop.goto(f"{shop}/account")
        laptop.get_by_role("button", name="Open chat").click()
        chat = laptop.frame_locator('iframe[title="Chat"]')
        send_as_visitor(chat, "Written on my laptop")
        expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Written on my laptop"])

        # The agent sees who it is: the site vouched for the email and name.
        alice = agent_page(browser, desk, "alice")
        row = alice.get_by_role("link", name=re.compile("Written on my laptop"))
        expect(row).to_contain_text("Ann")

        phone = new_page(browser, viewport={"width": 390, "height": 780}, is_mobile=True)
        time.sleep(1)  # another page, another timestamp: a signature of its own
        phone.goto(f"{shop}/account")
        phone.get_by_role("button", name="Open chat").click()
        on_phone = phone.frame_locator('iframe[title="Chat"]')
        expect(on_phone.locator("li.msg[data-seq]")).to_contain_text(["Written on my laptop"])
        screenshot(phone, "identity-second-device")

        # Ann signs out on the laptop (the site renders no identity): the next person at this
        # computer sees an empty chat, not hers.
        laptop.goto(f"{shop}/")
        laptop.get_by_role("button", name="Open chat").click()
        expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
        expect(chat.locator("li.msg[data-seq]")).to_have_count(0)
        expect(chat.get_by_role("log")).not_to_contain_text("Written on my laptop")


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
