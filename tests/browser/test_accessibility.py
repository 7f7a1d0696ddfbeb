"""Accessibility, audited by a tool (issue 20, item 7): axe-core (axe-playwright-python) finds no
serious or critical violation on the widget (open, with messages, ended with the rating card),
the dashboard (the lists, an open chat, the transfer dialog), the analytics page and the login
page; and both sides can be used with the keyboard alone."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Frame, Locator, Page, expect

from agents.models import Agent
from chat.models import Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    confirm_end,
    logged_in_page,
    new_page,
    open_widget,
    reply_as_agent,
    screenshot,
    send_as_visitor,
    widget_frame,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Axe()
SERIOUS = {"serious", "critical"}


def violations(target: Page | Frame, where: str) -> list[str]:
    """The serious and critical axe-core findings on `target` (a page, or the widget's frame),
    each with the elements it names, for the failure message."""
    found = AXE.run(target).response["violations"]  # type: ignore[arg-type]
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(str(node["target"]) for node in v["nodes"][:4])
        for v in found
        if v["impact"] in SERIOUS
    ]


def tab_to(page: Page, target: Locator, what: str, presses: int = 60) -> None:
    """Press Tab until `target` has the focus (in its document or shadow root), or fail."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("el => el.getRootNode().activeElement === el"):
            return
    pytest.fail(f"Tab never reached {what}")


def test_the_login_page(desk: Desk, browser: Browser) -> None:
    page = new_page(browser)
    page.goto(f"{desk.url}/accounts/login/")
    found = violations(page, "login")
    assert not found, "\n".join(found)


def test_the_widget_open_chatting_and_ended(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    found: list[str] = []
    visitor = new_page(browser, viewport={"width": 900, "height": 760})
    chat = open_widget(visitor, desk.url)
    expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
    found += violations(widget_frame(visitor), "widget, open")
    found += violations(visitor, "the customer's page with the launcher")

    send_as_visitor(chat, "Hello, is anyone there?")
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Hello, is anyone there")).click()
    reply_as_agent(alice, "Hi! How can I help?")
    expect(chat.locator("li.msg", has_text="How can I help?")).to_have_count(1)
    found += violations(widget_frame(visitor), "widget, chatting")

    alice.locator("#pane").get_by_role("button", name="End chat").click()
    confirm_end(alice)
    expect(chat.get_by_role("radio").first).to_be_visible()  # the rating card's stars
    found += violations(widget_frame(visitor), "widget, ended")
    screenshot(visitor, "a11y-widget-ended")
    assert not found, "\n".join(found)


def test_the_dashboard_lists_an_open_chat_and_the_transfer_dialog(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    found: list[str] = []
    visitor = new_page(browser)
    send_as_visitor(open_widget(visitor, desk.url), "My parcel is late")
    alice = agent_page(browser, desk, "alice")
    expect(alice.locator("#list-waiting .row")).to_have_count(1)
    found += violations(alice, "dashboard, lists")

    alice.get_by_role("link", name=re.compile("My parcel is late")).click()
    alice.get_by_role("button", name="Claim").click()
    expect(alice.get_by_role("textbox", name="Reply")).to_be_enabled()
    found += violations(alice, "dashboard, open chat")

    alice.locator("#pane").get_by_role("button", name="Transfer").click()
    expect(alice.get_by_label("Transfer to")).to_be_visible()
    found += violations(alice, "dashboard, transfer dialog")
    screenshot(alice, "a11y-dashboard-transfer")
    assert not found, "\n".join(found)


def test_the_analytics_page(desk: Desk, browser: Browser, admin_agent: Agent) -> None:
    page = logged_in_page(browser, desk, admin_agent.user.username, "/agents/analytics/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    found = violations(page, "analytics")
    assert not found, "\n".join(found)


def test_a_visitor_chats_with_the_keyboard_alone(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    """Tab to the launcher, open it, write and send with Enter, close with Escape: no mouse."""
    visitor = new_page(browser)
    visitor.goto(f"{desk.url}/demo/")
    launcher = visitor.get_by_role("button", name="Open chat")
    tab_to(visitor, launcher, "the launcher")
    visitor.keyboard.press("Enter")
    chat = visitor.frame_locator('iframe[title="Chat"]')
    box = chat.get_by_role("textbox", name="Message")
    expect(box).to_be_focused()  # opening the chat puts the cursor in the message box
    visitor.keyboard.type("Typed, not clicked")
    visitor.keyboard.press("Enter")
    expect(chat.locator("li.msg[data-seq]", has_text="Typed, not clicked")).to_have_count(1)
    visitor.keyboard.press("Escape")
    expect(visitor.locator('iframe[title="Chat"]')).to_be_hidden()
    expect(launcher).to_be_focused()  # focus comes back to where it was


def test_an_agent_answers_and_ends_a_chat_with_the_keyboard_alone(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    """From the list to the reply and the end of the chat, by keys; Escape cancels the
    confirmation and gives the focus back."""
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Keyboard question")
    alice = agent_page(browser, desk, "alice")
    row = alice.get_by_role("link", name=re.compile("Keyboard question"))
    tab_to(alice, row, "the chat in the list")
    alice.keyboard.press("Enter")
    claim = alice.get_by_role("button", name="Claim")
    claim.focus()  # the pane's first control after opening a chat
    alice.keyboard.press("Enter")
    reply = alice.get_by_role("textbox", name="Reply")
    expect(reply).to_be_enabled()
    reply.focus()
    alice.keyboard.type("Answered by keyboard")
    alice.keyboard.press("Enter")
    expect(chat.locator("li.msg", has_text="Answered by keyboard")).to_have_count(1)

    end = alice.locator("#pane").get_by_role("button", name="End chat")
    end.focus()
    alice.keyboard.press("Enter")
    dialog = alice.get_by_role("alertdialog", name="End this chat?")
    expect(dialog).to_be_visible()
    alice.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(end).to_be_focused()
    alice.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    # The safe answer has the focus (a stray Enter ends nothing); Tab reaches the other.
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    alice.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="End chat")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(chat.get_by_role("radio").first).to_be_visible()
