"""Failed sends, as a visitor and an agent see them in a real browser (issue 20, item 1): a live
counter near the message length limit and Send disabled past it, saying why; a message the server
refuses for real keeps its text and its place in the log, says why once, and offers Retry (same
client_id), Edit (its text back in the box) and Remove; a retried transient failure is stored
once."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, Route, expect

from agents.models import Agent
from chat.models import Conversation, Inbox, Message
from tests.browser.conftest import Desk
from tests.browser.pages import (
    bubbles,
    new_page,
    open_widget,
    send_as_visitor,
    visitor_writes_and_alice_opens,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIMIT = 5000  # SUPPORTDESK_MAX_MESSAGE_LENGTH's default, the test desk's
SHOTS = Path(tempfile.gettempdir()) / "sends"  # screenshots to look at


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def without_the_page_check(form: Locator) -> None:
    """The form forgets the limit (a hand-made request, an older page, a limit lowered since the
    page loaded): what it sends is the server's to refuse."""
    form.evaluate("form => { form.dataset.maxLength = ''; }")


def log_order(log: Locator) -> list[str]:
    """Every message bubble of the log in page order, pending and refused ones included."""
    return log.locator("li.msg:not([hidden]) .msg__bubble").evaluate_all(
        "els => els.map(e => e.textContent.length > 40 ? `${e.textContent.slice(0, 12)}…(${e.textContent.length})` : e.textContent)"
    )


def not_sent(log: Locator) -> Locator:
    return log.locator('li[data-state="refused"]')


def test_the_widget_counts_near_the_limit_and_will_not_send_past_it(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    box = chat.get_by_role("textbox", name="Message")
    send = chat.get_by_role("button", name="Send", exact=True)
    counter = chat.locator(".composer__count")

    box.fill("x" * 4000)
    expect(counter).to_be_hidden()  # far from the limit: nothing to count
    expect(box).not_to_have_attribute("aria-describedby", re.compile("."))
    box.fill("y" * 4600)
    expect(counter).to_have_text("400 characters left")
    expect(box).to_have_accessible_description("400 characters left")
    expect(send).not_to_have_attribute("aria-disabled", "true")

    box.fill("z" * 5012)
    too_many = "12 characters too many: shorten the message to send it."
    expect(counter).to_have_text(too_many)
    expect(send).to_have_attribute("aria-disabled", "true")
    expect(send).to_have_accessible_description(too_many)  # why, where the button is
    expect(box).to_have_attribute("aria-invalid", "true")
    shot(visitor, "widget-counter-over")
    expect(send).to_be_disabled()  # as assistive technology sees it
    send.click(force=True)  # still focusable and clickable: it says why instead of sending
    box.press("Enter")
    # Said to a screen reader, in a live region; nothing sent, the text still there.
    expect(chat.locator(".composer [role=status]")).to_have_text(too_many)
    expect(chat.locator("li.msg--mine")).to_have_count(0)
    expect(box).to_have_value("z" * 5012)

    box.press("Backspace")
    box.press("End")
    for _ in range(12):
        box.press("Backspace")
    expect(counter).to_have_text("1 character left")
    expect(send).not_to_have_attribute("aria-disabled", "true")
    send.click()
    expect(chat.locator("li.msg[data-seq].msg--mine")).to_have_count(1)
    expect(counter).to_be_hidden()
    assert len(Message.objects.get(sender_kind="visitor").body) == LIMIT - 1


def test_a_refused_message_keeps_its_text_and_place_and_says_why_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Hello there")
    alice.get_by_role("button", name="Claim").click()
    form = chat.locator("#composer")
    log = chat.get_by_role("log")
    box = chat.get_by_role("textbox", name="Message")
    without_the_page_check(form)
    refusals: list[int] = []
    visitor.on("response", lambda r: r.url.endswith("/messages") and refusals.append(r.status))

    pasted = "A" * 10_000  # too long for a socket frame: it goes as a POST, answered 422
    box.fill(pasted)
    chat.get_by_role("button", name="Send", exact=True).click()
    refused = not_sent(log)
    reason = "Not sent: this message is too long (10,000 characters; at most 5,000)."
    expect(refused.locator(".msg__state")).to_contain_text(reason)
    assert refusals == [422]
    # Said once: in the bubble, not again under the box.
    expect(chat.get_by_text(re.compile("too long"))).to_have_count(1)
    expect(chat.locator(".composer__error")).to_be_hidden()
    expect(refused.get_by_role("button", name="Retry")).to_be_visible()
    expect(refused.get_by_role("button", name="Edit")).to_be_visible()
    expect(refused.get_by_role("button", name="Remove")).to_be_visible()
    client_id = refused.get_attribute("data-client-id")
    assert refused.locator(".msg__bubble").text_content() == pasted  # the whole text is kept

    # Later messages go below it, not above: it stays where it was written.
    alice.get_by_role("textbox", name="Reply").fill("Agent after")
    alice.get_by_role("textbox", name="Reply").press("Enter")
    expect(log).to_contain_text("Agent after")
    send_as_visitor(chat, "Visitor after")
    expect(log.locator("li.msg[data-seq]", has_text="Visitor after")).to_have_count(1)
    order = ["Hello there", "AAAAAAAAAAAA…(10000)", "Agent after", "Visitor after"]
    assert log_order(log)[-4:] == order
    shot(visitor, "widget-refused-in-place")

    # Retry sends the same entry again: refused again, still one bubble in the same place.
    with visitor.expect_response(lambda r: r.url.endswith("/messages") and r.status == 422):
        refused.get_by_role("button", name="Retry").click()
    expect(refused.get_by_role("button", name="Retry")).to_be_visible()
    assert refused.get_attribute("data-client-id") == client_id
    assert refusals.count(422) == 2
    expect(chat.get_by_text(re.compile("too long"))).to_have_count(1)
    assert log_order(log)[-4:] == order

    # A reload keeps it, in its place (the held entry is in localStorage).
    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    expect(not_sent(log).locator(".msg__state")).to_contain_text(reason)
    # The held entry shows at once (from localStorage); the stored messages when the history
    # has loaded: the order is checked once they are all there.
    expect(log.locator("li.msg[data-seq]", has_text="Visitor after")).to_have_count(1)
    assert log_order(log)[-4:] == order

    # Edit: the text is back in the box, the counter says by how much it is too long.
    not_sent(log).get_by_role("button", name="Edit").click()
    expect(not_sent(log)).to_have_count(0)
    expect(box).to_have_value(pasted)
    expect(box).to_be_focused()
    expect(chat.locator(".composer__count")).to_have_text(
        "5,000 characters too many: shorten the message to send it."
    )
    shot(visitor, "widget-edit-back-in-box")
    box.fill("A shorter version")
    box.press("Enter")
    expect(log.locator("li.msg[data-seq]", has_text="A shorter version")).to_have_count(1)

    # Remove: gone, and stays gone after a reload.
    box.fill("B" * 5001)  # fits a socket frame: refused over the socket this time
    without_the_page_check(chat.locator("#composer"))
    box.press("Enter")
    expect(not_sent(log)).to_have_count(1)
    not_sent(log).get_by_role("button", name="Remove").click()
    expect(not_sent(log)).to_have_count(0)
    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    expect(log).to_contain_text("A shorter version")
    expect(log.locator("li.msg")).not_to_have_count(0)
    expect(not_sent(log)).to_have_count(0)
    assert list(
        Message.objects.filter(sender_kind="visitor").order_by("seq").values_list("body", flat=True)
    ) == ["Hello there", "Visitor after", "A shorter version"]


def test_retry_after_a_refusal_is_lifted_stores_it_once_with_the_same_client_id(
    desk_factory, browser: Browser, inbox: Inbox
) -> None:
    server = desk_factory(SUPPORTDESK_MAX_MESSAGE_LENGTH="20")
    visitor = new_page(browser)
    chat = open_widget(visitor, server.url)
    without_the_page_check(chat.locator("#composer"))
    send_as_visitor(chat, "thirty characters, give or take")
    log = chat.get_by_role("log")
    refused = not_sent(log)
    expect(refused.locator(".msg__state")).to_contain_text("Not sent: this message is too long")
    client_id = refused.get_attribute("data-client-id")

    # The admin raises the limit (a restart with the new setting); Retry now goes through.
    server.stop()
    server.env["SUPPORTDESK_MAX_MESSAGE_LENGTH"] = "5000"
    server.start()
    expect(chat.locator("#connection-status")).to_have_attribute(
        "data-state", "open", timeout=30_000
    )
    refused.get_by_role("button", name="Retry").click()
    expect(log.locator("li.msg[data-seq]")).to_have_count(1)
    expect(log.locator("[data-pending]")).to_have_count(0)
    stored = Message.objects.get(sender_kind="visitor")
    assert stored.body == "thirty characters, give or take"
    assert str(stored.client_id) == client_id


def no_socket(page: Page, path: str) -> None:
    """From now on the page's socket closes as soon as it opens: messages go over HTTP only,
    and nothing comes back over a socket (the test's fault is on HTTP)."""
    page.context.route_web_socket(re.compile(path), lambda socket: socket.close())


def client_ids_sent(page: Page, url: re.Pattern[str]) -> list[str]:
    """The client_id of every message POST the page makes from now on (even those aborted)."""
    sent: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and url.search(request.url):
            sent.append(re.search(r"client_id=([0-9a-f-]+)", request.post_data or "")[1])

    page.on("request", seen)
    return sent


def stored_once_the_answer_lost_then_refused() -> Callable[[Route], None]:
    """A route for the message POSTs: the first reaches the server, which stores it, and its
    answer is lost; the next ones never reach the server. The outbox gives up: "Not sent"."""
    tries: list[Route] = []

    def route(route: Route) -> None:
        tries.append(route)
        if len(tries) == 1:
            route.fetch()  # the server stores it...
            route.abort("connectionreset")  # ...and the answer never arrives
        else:
            route.abort("connectionrefused")

    return route


def test_retrying_a_transient_failure_stores_the_message_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "First")
    no_socket(visitor, r"/ws/widget/")
    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    expect(chat.get_by_role("log")).to_contain_text("First")
    client_ids = client_ids_sent(visitor, re.compile(r"/messages$"))
    visitor.context.route("**/messages", stored_once_the_answer_lost_then_refused())
    send_as_visitor(chat, "Did this arrive?")
    expect(chat.locator("[data-pending] .msg__state")).to_have_text("Not sent — Retry")
    assert Message.objects.filter(body="Did this arrive?").count() == 1  # stored all the same
    shot(visitor, "widget-not-sent-retry")
    visitor.context.unroute("**/messages")
    chat.get_by_role("button", name="Retry").click()
    expect(chat.locator("[data-pending]")).to_have_count(0)
    expect(alice.locator("#pane li.msg[data-seq]", has_text="Did this arrive?")).to_have_count(1)
    assert bubbles(chat.get_by_role("log")) == ["First", "Did this arrive?"]
    assert Message.objects.filter(body="Did this arrive?").count() == 1
    assert len(client_ids) == 4  # three tries, then Retry
    assert len(set(client_ids)) == 1  # every try: the same client_id


def open_chat_on_dashboard(browser: Browser, desk: Desk) -> tuple[Page, Page]:
    visitor, _, alice = visitor_writes_and_alice_opens(browser, desk.url, "Need help")
    alice.get_by_role("button", name="Claim").click()
    expect(alice.locator("#pane .composer")).to_be_visible()
    return visitor, alice


def test_the_reply_box_counts_refuses_and_keeps_a_refused_reply(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, alice = open_chat_on_dashboard(browser, desk)
    box = alice.get_by_role("textbox", name="Reply")
    send = alice.locator("#pane").get_by_role("button", name="Send", exact=True)
    counter = alice.locator("#pane .composer__count")
    log = alice.locator("#pane").get_by_role("log")

    box.fill("r" * 4700)
    expect(counter).to_have_text("300 characters left")
    box.fill("r" * 6000)
    expect(counter).to_have_text("1,000 characters too many: shorten the message to send it.")
    expect(send).to_have_attribute("aria-disabled", "true")
    shot(alice, "dashboard-counter-over")
    box.press("Enter")
    expect(alice.locator("#pane li.msg--mine")).to_have_count(0)
    expect(box).to_have_value("r" * 6000)

    # Past the page's check: refused by the server, kept in place with its actions.
    without_the_page_check(alice.locator("#pane .composer"))
    send.click(force=True)  # still marked disabled until the next keystroke
    refused = not_sent(log)
    expect(refused.locator(".msg__state")).to_contain_text(
        "Not sent: this message is too long (6,000 characters; at most 5,000)."
    )
    expect(alice.get_by_text(re.compile("too long"))).to_have_count(1)
    expect(alice.locator("#pane .composer__error")).to_be_hidden()
    # The visitor writes after it: below the refused reply, not above.
    send_as_visitor(visitor.frame_locator('iframe[title="Chat"]'), "Anyone there?")
    expect(log.locator("li.msg[data-seq]", has_text="Anyone there?")).to_have_count(1)
    assert log_order(log)[-3:] == ["Need help", "rrrrrrrrrrrr…(6000)", "Anyone there?"]
    shot(alice, "dashboard-refused-in-place")

    # Edit puts it back (a note comes back as a note, this reply as a reply).
    refused.get_by_role("button", name="Edit").click()
    expect(box).to_have_value("r" * 6000)
    expect(alice.locator("#pane .composer")).to_have_attribute("data-mode", "reply")
    box.fill("Yes, here")
    box.press("Enter")
    expect(log.locator("li.msg[data-seq]", has_text="Yes, here")).to_have_count(1)

    # Remove drops one for good; Retry of one sends the same client_id (refused again here).
    box.fill("s" * 5001)
    without_the_page_check(alice.locator("#pane .composer"))
    box.press("Enter")
    expect(not_sent(log)).to_have_count(1)
    client_id = not_sent(log).get_attribute("data-client-id")
    not_sent(log).get_by_role("button", name="Retry").click()
    expect(not_sent(log)).to_have_count(1)
    expect(not_sent(log)).to_have_attribute("data-client-id", client_id)
    not_sent(log).get_by_role("button", name="Remove").click()
    expect(not_sent(log)).to_have_count(0)
    alice.reload()
    expect(alice.locator("#pane li.msg[data-seq]", has_text="Yes, here")).to_have_count(1)
    expect(not_sent(alice.locator("#pane").get_by_role("log"))).to_have_count(0)
    conversation = Conversation.objects.get()
    assert list(
        conversation.messages.filter(sender_kind="agent").values_list("body", flat=True)
    ) == ["Yes, here"]


def test_a_dashboard_reply_retried_after_a_lost_answer_is_stored_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    _visitor, alice = open_chat_on_dashboard(browser, desk)
    no_socket(alice, r"/ws/agents/")
    alice.reload()
    expect(alice.locator("#pane .composer")).to_be_visible()
    messages = re.compile(r"/agents/conversations/\d+/messages$")
    client_ids = client_ids_sent(alice, messages)
    alice.context.route(messages, stored_once_the_answer_lost_then_refused())
    alice.get_by_role("textbox", name="Reply").fill("On its way")
    alice.get_by_role("textbox", name="Reply").press("Enter")
    expect(alice.locator("#pane [data-pending] .msg__state")).to_have_text("Not sent — Retry")
    assert Message.objects.filter(body="On its way").count() == 1  # stored all the same
    alice.context.unroute(messages)
    alice.locator("#pane").get_by_role("button", name="Retry").click()
    expect(alice.locator("#pane [data-pending]")).to_have_count(0)
    expect(alice.locator("#pane li.msg[data-seq]", has_text="On its way")).to_have_count(1)
    assert Message.objects.filter(body="On its way").count() == 1
    assert len(client_ids) == 4
    assert len(set(client_ids)) == 1
