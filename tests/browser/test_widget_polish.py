"""The visitor widget as a visitor sees it, in a real browser: where the log opens and what counts
as read, the phone layout on either side, honest waiting lines, earlier conversations, the
connection line, readable accent colours and grouped messages."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.models import Agent
from agents.services import agent_reply
from chat.models import Conversation, Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    end_chat,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
    visitor_starts_chat,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def reply_in_dashboard(alice: Page, text: str) -> None:
    reply = alice.get_by_role("textbox", name="Reply")
    reply.fill(text)
    reply.press("Enter")
    expect(alice.get_by_role("log")).to_contain_text(text)


def ticks(alice: Page, text: str):
    return alice.locator(".msg--mine", has_text=text).locator(".msg__state")


def open_chat(visitor: Page) -> None:
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()


def close_chat(visitor: Page) -> None:
    visitor.get_by_role("button", name="Close chat").click()
    expect(visitor.get_by_role("button", name=re.compile("^Open chat"))).to_be_visible()


def test_a_returning_visitor_opens_the_chat_at_its_newest_message(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat = visitor_starts_chat(browser, desk.url, "Where is my parcel?")
    conversation = Conversation.objects.get()
    for n in range(25):
        agent_reply(conversation=conversation, agent=agent, body=f"Step {n}", client_id=uuid4())
    visitor.reload()  # a returning visitor: the log loads while the chat is closed
    open_chat(visitor)
    expect(chat.get_by_text("Step 24", exact=True)).to_be_in_viewport(ratio=1)
    expect(chat.get_by_role("button", name="New messages")).to_be_hidden()
    screenshot(visitor, "polish-returning-newest")


def test_replies_while_closed_show_when_opened_and_count_as_read_only_once_seen(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Is it in stock?")
    close_chat(visitor)
    for n in range(14):
        reply_in_dashboard(alice, f"Answer {n}: it depends on the size")
    last = "Answer 13: it depends on the size"
    expect(visitor.locator("#supportdesk-widget .badge")).to_have_text("14")
    expect(ticks(alice, last)).to_have_text("✓")  # the widget is closed: not read
    open_chat(visitor)
    expect(chat.get_by_text(last)).to_be_in_viewport(ratio=1)
    expect(ticks(alice, last)).to_have_text("✓✓")
    screenshot(visitor, "polish-opened-at-newest")

    # A reader who scrolled up is not moved, gets the button, and has not read what came.
    log = chat.get_by_role("log")
    log.evaluate("el => { el.scrollTop = 0; }")
    reply_in_dashboard(alice, "One more thing")
    new_messages = chat.get_by_role("button", name="New messages")
    expect(new_messages).to_be_visible()
    assert log.evaluate("el => el.scrollTop") == 0
    alice.wait_for_timeout(700)  # what the widget would have reported by now, it has
    expect(ticks(alice, "One more thing")).to_have_text("✓")
    new_messages.click()
    expect(chat.get_by_text("One more thing")).to_be_in_viewport(ratio=1)
    expect(ticks(alice, "One more thing")).to_have_text("✓✓")

    # The rating panel grows under the log: the newest lines stay in sight above it.
    end_chat(alice)
    expect(chat.get_by_role("group", name="How was this chat?")).to_be_visible()
    ended = chat.locator("li.msg", has_text="Alice ended the chat.")
    expect(ended).to_be_in_viewport(ratio=1)
    expect(chat.get_by_text("One more thing")).to_be_in_viewport()
    screenshot(visitor, "polish-ended-rating")


@pytest.mark.parametrize("side", [Inbox.LauncherPosition.LEFT, Inbox.LauncherPosition.RIGHT])
def test_the_chat_fills_a_phone_screen_exactly_whichever_side_its_launcher_is_on(
    desk: Desk, browser: Browser, inbox: Inbox, side: str
) -> None:
    inbox.launcher_position = side
    inbox.save()
    phone = new_page(browser, viewport={"width": 390, "height": 780}, is_mobile=True)
    chat = open_widget(phone, desk.url)
    frame = phone.locator("#supportdesk-widget").evaluate(
        "h => { const r = h.shadowRoot.querySelector('iframe').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; }"
    )
    assert frame == [0, 0, 390, 780]
    expect(chat.get_by_role("button", name="Close chat")).to_be_in_viewport(ratio=1)
    expect(chat.get_by_role("button", name="Send", exact=True)).to_be_in_viewport(ratio=1)
    screenshot(phone, f"polish-phone-{side}")


def test_a_waiting_chat_promises_shortly_only_while_someone_can_answer(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    shortly = "Waiting for an agent — we'll be with you shortly."
    later = "We've got your message — we'll reply when we're back."
    visitor, chat = visitor_starts_chat(browser, desk.url, "Anyone there?")  # nobody online
    expect(chat.locator("#availability")).to_have_attribute("data-online", "false")
    expect(chat.get_by_text(later)).to_be_visible()
    expect(chat.get_by_text(shortly)).to_be_hidden()
    expect(chat.locator(".queue")).to_be_hidden()
    expect(chat.get_by_role("textbox", name="Your email, so we can reply:")).to_be_visible()
    screenshot(visitor, "polish-waiting-away")
    alice = agent_page(browser, desk, "alice")  # comes online: the widget hears it live
    expect(chat.get_by_text(shortly)).to_be_visible()
    expect(chat.get_by_text(later)).to_be_hidden()
    expect(chat.locator(".queue")).to_have_text("You are number 1 in line.")

    # Out of hours, with Alice online all the same.
    tomorrow = timezone.now().astimezone(ZoneInfo("Europe/Berlin")).isoweekday() % 7 + 1
    inbox.time_zone = "Europe/Berlin"
    inbox.opens_at, inbox.closes_at, inbox.open_days = time(9), time(17), str(tomorrow)
    inbox.save()
    second, second_chat = visitor_starts_chat(browser, desk.url, "Are you open?")
    expect(second_chat.locator("#availability")).to_contain_text("We're closed")
    expect(second_chat.get_by_text(later)).to_be_visible()
    expect(second_chat.get_by_text(shortly)).to_be_hidden()
    expect(second_chat.locator(".queue")).to_be_hidden()
    screenshot(second, "polish-waiting-closed")
    alice.close()


def test_the_connection_line_shows_only_while_the_connection_matters(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    visitor, chat = visitor_starts_chat(browser, desk.url, "Hello")
    status = chat.get_by_role("status").and_(chat.locator("#connection-status"))
    expect(status).to_have_attribute("data-state", "open")
    expect(status).to_have_text("")  # connected is the normal case: nothing to say
    assert status.evaluate("el => el.getBoundingClientRect().height") == 0
    screenshot(visitor, "polish-connected-quiet")
    visitor.context.set_offline(True)
    expect(status).to_have_text("You are offline — messages will be sent when you reconnect")
    expect(status).to_be_visible()
    screenshot(visitor, "polish-offline")
    visitor.context.set_offline(False)
    expect(status).to_have_text("Back online")
    expect(status).to_have_text("")  # after a moment


def colour(locator, prop: str) -> tuple[int, int, int]:
    value = locator.evaluate(f"el => getComputedStyle(el).{prop}")
    r, g, b = (int(n) for n in re.findall(r"\d+", value)[:3])
    return r, g, b


@pytest.mark.parametrize(
    ("accent", "ink"),
    [("#ffd43b", (17, 17, 17)), ("#e8590c", (17, 17, 17)), ("#1b2a4a", (255,) * 3)],
)
def test_text_on_the_accent_colour_is_readable_light_or_dark(
    desk: Desk, browser: Browser, inbox: Inbox, accent: str, ink: tuple[int, int, int]
) -> None:
    from chat.contrast import contrast_ratio, rgb

    inbox.accent_color = accent
    inbox.save()
    visitor, chat = visitor_starts_chat(browser, desk.url, "Is this readable?")
    header = chat.locator(".widget__header")
    for text, background in (
        (chat.get_by_role("heading", name="Acme support"), header),
        (chat.locator(".availability-line"), header),
        (chat.locator(".msg--mine .msg__bubble"), chat.locator(".msg--mine .msg__bubble")),
        (chat.get_by_role("button", name="Send", exact=True), chat.locator(".composer__send")),
    ):
        assert colour(background, "backgroundColor") == rgb(accent)
        assert colour(text, "color") == ink
        assert contrast_ratio(colour(text, "color"), rgb(accent)) >= 4.5
    launcher = visitor.get_by_role("button", name="Close chat").and_(
        visitor.locator("#supportdesk-widget .launcher")
    )
    assert colour(launcher, "color") == ink
    screenshot(visitor, f"polish-accent-{accent[1:]}")


def test_consecutive_messages_of_one_sender_show_their_name_and_avatar_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "First question")
    alice.get_by_role("button", name="Claim").click()  # "Alice joined the chat." breaks the run
    for text in ("Hi!", "Let me check.", "Found it."):  # appended live over the socket
        reply_in_dashboard(alice, text)
    log = chat.get_by_role("log")
    expect(log.locator("li.msg[data-seq]")).to_have_count(5)
    run = log.locator("li.msg--agent[data-seq]")
    expect(run.locator(".msg__author").filter(visible=True)).to_have_count(1)
    expect(run.first.locator(".msg__author")).to_have_text("Alice")
    visible_avatars = run.locator(".msg__avatar").evaluate_all(
        "els => els.filter(a => getComputedStyle(a).visibility === 'visible').length"
    )
    assert visible_avatars == 1
    conversation = Conversation.objects.get()
    assert run.evaluate_all("els => els.map(e => e.id)") == [
        f"msg-{conversation.pk}-{seq}" for seq in (3, 4, 5)
    ]
    screenshot(visitor, "polish-grouped")
    visitor.reload()  # rendered by the server: grouped the same way
    open_chat(visitor)
    expect(run.locator(".msg__author").filter(visible=True)).to_have_count(1)
    expect(log.locator(".msg--cont")).to_have_count(2)


def test_a_new_chat_after_an_ended_one_keeps_the_old_one_folded_above_without_ticks(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "My first question")
    reply_in_dashboard(alice, "First answer")
    mine = chat.locator(".msg--mine", has_text="My first question").locator(".msg__state")
    expect(mine).to_have_text("✓✓")  # read, in the current chat
    end_chat(alice)
    expect(chat.locator(".chat-state[data-status]")).to_have_attribute("data-status", "ended")
    send_as_visitor(chat, "Back with another one")
    main_log = chat.locator("#conversation > .log")
    history = chat.get_by_text("Earlier conversation (1)")
    expect(history).to_be_visible()  # without a reload
    expect(main_log.locator(":scope > li.msg[data-seq]")).to_have_count(1)
    expect(chat.get_by_text("My first question")).to_be_hidden()  # folded
    history.click()
    expect(chat.get_by_text("My first question")).to_be_visible()
    expect(chat.locator(".log--history .msg__state").filter(visible=True)).to_have_count(0)
    screenshot(visitor, "polish-history-after-new-chat")
    # The new conversation is followed: a reply arrives in it, once, live.
    alice.locator(".row__link", has_text="Back with another one").click()
    reply_in_dashboard(alice, "Welcome back!")
    expect(main_log.get_by_text("Welcome back!")).to_have_count(1)
    expect(chat.locator(".chat-state[data-status]")).to_have_attribute("data-status", "active")


def test_a_new_chat_whose_first_load_fails_is_loaded_by_its_next_message(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    """The desk answers 503 (a deploy) when the widget loads the new chat: it is not stuck on
    the ended one; the agent's reply in the new chat brings it in."""
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "My first question")
    end_chat(alice)
    expect(chat.locator(".chat-state[data-status]")).to_have_attribute("data-status", "ended")
    failed: list[str] = []

    def deploying(route):  # the next load of the conversation only
        if not failed:
            failed.append(route.request.url)
            return route.fulfill(status=503, body="restarting")
        return route.continue_()

    visitor.route(re.compile(r"/widget/[^/]+/conversation$"), deploying)
    send_as_visitor(chat, "Back with another one")
    for _ in range(100):  # until the widget tried to load the new chat (and got the 503)
        if failed:
            break
        visitor.wait_for_timeout(50)
    assert len(failed) == 1
    alice.locator(".row__link", has_text="Back with another one").click()
    reply_in_dashboard(alice, "Welcome back!")
    main_log = chat.locator("#conversation > .log")
    expect(main_log.get_by_text("Welcome back!")).to_have_count(1)
    expect(main_log.get_by_text("Back with another one")).to_have_count(1)
    expect(chat.get_by_text("Earlier conversation (1)")).to_be_visible()
