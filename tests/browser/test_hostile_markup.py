"""Markup a visitor types, or a hostile host page passes as its title and address, is text in
the widget and in the dashboard, checked in the real browser: no script runs, no dialog opens,
no element of the payload's exists, and no `javascript:` link is made."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Frame, Locator, Page, expect

from agents.models import Agent
from chat.models import Inbox, Visitor
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    bubbles,
    new_page,
    open_widget,
    reply_as_agent,
    screenshot,
    send_as_visitor,
    widget_frame,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    '<a href="javascript:alert(1)">click me</a>',
    "javascript:alert(1)",
    "[x](javascript:alert(1))",
    "https://example.com/?q=<img src=x onerror=alert(1)>",  # a link, and markup in it
    '<img src=x onerror="window.__xss=1;parent.__xss=1">',  # a script that runs leaves a mark
]
REPLY = "<svg onload=alert(1)><b>Agent</b> here"  # markup goes the other way too
TITLE = "<img src=x onerror=alert(1)>Pricing</title><script>alert(1)</script>"
NAME = '"><svg onload=alert(1)>Eve'
# What the payloads would create if they were parsed as HTML.
INJECTED = [
    "img[src=x]",
    # Our own avatars (an agent's photo, the inbox's logo or icon: `.face`) aside.
    ":is(.msg, .row, .context, .result) :is(script, iframe, :is(img, svg):not(.face, .face *))",
    "svg[onload]",
    "[onerror]",
    "[onload]",
    'a[href*="javascript:" i]',
    'iframe[src*="javascript:" i]',
]


def post_from_widget(frame: Frame, path: str, fields: dict[str, str]) -> int:
    """POST as the widget does (its own token, from its own origin); the status."""
    return frame.evaluate(
        """async ([path, fields]) => {
          const key = Object.keys(localStorage).find((k) => k.endsWith(":token"));
          const response = await fetch(path, {
            method: "POST",
            headers: { "X-Visitor-Token": localStorage.getItem(key) },
            body: new URLSearchParams(fields),
          });
          return response.status;
        }""",
        [path, fields],
    )


def assert_inert(scope: Page | Frame, where: str) -> None:
    """Nothing the payloads carry became an element, a link or a run script."""
    for selector in INJECTED:
        assert scope.locator(selector).count() == 0, f"{selector} in the {where}"
    assert scope.evaluate("window.__xss") is None, f"a payload ran in the {where}"


def assert_shown_literally(log: Locator) -> None:
    texts = bubbles(log)
    for payload in PAYLOADS:
        assert payload in texts, payload


def test_markup_from_visitors_and_host_pages_is_shown_as_text_everywhere(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    dialogs: list[str] = []
    dashboard = agent_page(browser, desk, "alice")
    dashboard.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    visitor = new_page(browser)
    visitor.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    chat = open_widget(visitor, desk.url)

    send_as_visitor(chat, PAYLOADS[0])
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    # The widget has its session now: the pre-chat form's name, with markup, before the rest
    # (dashboard rows take the name from the next message's event).
    frame = widget_frame(visitor)
    key = inbox.public_key
    profile = {"name": NAME, "email": "eve@example.com"}
    assert post_from_widget(frame, f"/widget/{key}/profile", profile) == 204
    for count, payload in enumerate(PAYLOADS[1:], start=2):
        send_as_visitor(chat, payload)
        expect(chat.locator("li.msg[data-seq]")).to_have_count(count)  # stored, then the next
    # The host page says where the visitor is: a title and an address carrying markup, as the
    # embed script would pass them, straight to the widget's context endpoint (after the
    # widget's own report of the demo page, which would overwrite it).
    context = {
        "current_url": 'https://shop.example/"><img src=x onerror=alert(1)>',
        "page_title": TITLE,
        "referrer": "javascript:alert(1)",  # not http(s): never stored, so never a link
        "timezone": "<b>Mars/Olympus</b>",
        "language": "<i>xx</i>",
    }
    assert post_from_widget(frame, f"/widget/{key}/context", context) == 204

    # The widget: every payload is a bubble's text, nothing else.
    log = chat.get_by_role("log")
    assert_shown_literally(log)
    assert_inert(frame, "widget")
    assert_inert(visitor.main_frame, "host page")
    screenshot(visitor, "hostile-markup-widget")

    # The dashboard: the row, the conversation, the visitor panel beside it.
    row = dashboard.locator("#list-waiting .row")
    expect(row).to_have_count(1)
    expect(row.locator(".row__name")).to_have_text(NAME)
    expect(row.locator(".row__preview")).to_have_text(PAYLOADS[-1])
    row.locator(".row__link").click()
    pane_log = dashboard.get_by_role("log")
    expect(pane_log.locator("li.msg[data-seq]")).to_have_count(len(PAYLOADS))
    assert_shown_literally(pane_log)
    panel = dashboard.get_by_role("complementary", name="Visitor")
    page_link = panel.locator(".context__page a")
    expect(page_link).to_have_text(TITLE)
    expect(page_link).to_have_attribute("href", context["current_url"])
    expect(panel).to_contain_text(NAME)
    expect(panel).to_contain_text("<b>Mars/Olympus</b>")
    expect(panel).to_contain_text("<i>xx</i>")
    assert Visitor.objects.get().referrer != context["referrer"]
    assert_inert(dashboard.main_frame, "dashboard")
    # The address the visitor sent is a link to where it says; the markup after it is text.
    link = pane_log.get_by_role("link", name=re.compile("example.com"))
    expect(link).to_have_attribute("href", re.compile(r"^https://example\.com/"))
    reply_as_agent(dashboard, REPLY)
    expect(pane_log.locator(".msg--agent .msg__bubble")).to_have_text(REPLY)
    expect(log.locator(".msg--agent[data-seq] .msg__bubble")).to_have_text(REPLY)  # widget
    assert_inert(frame, "widget")
    assert_inert(dashboard.main_frame, "dashboard")
    screenshot(visitor, "hostile-markup-widget-reply")
    screenshot(dashboard, "hostile-markup-dashboard")

    # Search: the hits are highlighted, and still text.
    search = dashboard.get_by_role("searchbox", name="Search messages")
    search.fill("alert")
    search.press("Enter")
    results = dashboard.locator(".result")
    expect(results.locator("mark").first).to_have_text("alert")
    result_texts = " ".join(results.all_inner_texts())
    # Which payloads match, and how much of each shows, depends on the store: PostgreSQL shows
    # excerpts (ts_headline) and reads "javascript:alert(1)" as one token. Whatever shows is text:
    # the markup characters are on screen (the visitor's name leads every hit), nothing ran.
    assert "<svg onload=alert(1)>" in result_texts
    assert "alert" in result_texts
    assert_inert(dashboard.main_frame, "search results")
    screenshot(dashboard, "hostile-markup-search")

    assert dialogs == []
