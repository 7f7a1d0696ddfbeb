"""What a person does in the browser, as helpers the browser tests share."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Frame,
    FrameLocator,
    Locator,
    Page,
    expect,
)

from tests.browser.conftest import ARTIFACTS, CSP_VIOLATIONS, Desk


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A browser profile whose Content-Security-Policy violations fail the test (conftest)."""
    context = browser.new_context(**options)
    context.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text
            and CSP_VIOLATIONS.append(f"{message.location.get('url')}: {message.text}")
        ),
    )
    return context


def new_page(browser: Browser, **options: Any) -> Page:
    return new_context(browser, **options).new_page()


def logged_in_page(
    browser: Browser,
    desk: Desk | str,
    username: str,
    path: str,
    context: BrowserContext | None = None,
) -> Page:
    """`path` opened by `username`, logged in through a real session cookie; in `context` if
    given (one made with permissions or init scripts), else in a new profile."""
    url = desk if isinstance(desk, str) else desk.url
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    page = context.new_page() if context is not None else new_page(browser)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": url}]
    )
    page.goto(url + path)
    return page


def agent_page(
    browser: Browser,
    desk: Desk | str,
    username: str,
    path: str = "/agents/",
    context: BrowserContext | None = None,
) -> Page:
    """A dashboard page for `username`, logged in, its socket open."""
    page = logged_in_page(browser, desk, username, path, context)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")
    return page


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_widget(page: Page, url: str) -> FrameLocator:
    """Open `url`/demo/ (the customer's page) and the chat on it."""
    page.goto(f"{url}/demo/")
    page.get_by_role("button", name="Open chat").click()
    # The launcher says the chat is open (on a phone it then hides behind the full-screen chat,
    # so it is found by its class): a failure here is the launcher's, not the chat's.
    expect(page.locator("button.launcher")).to_have_attribute("aria-expanded", "true")
    return page.frame_locator('iframe[title="Chat"]')


def widget_frame(page: Page) -> Frame:
    """The chat's iframe of a customer's page, as a frame to evaluate scripts in."""
    return next(frame for frame in page.frames if "/widget/" in frame.url)


def send_as_visitor(chat: FrameLocator, text: str) -> None:
    chat.get_by_role("textbox", name="Message").fill(text)
    chat.get_by_role("button", name="Send", exact=True).click()


def visitor_starts_chat(browser: Browser, url: str, text: str) -> tuple[Page, FrameLocator]:
    """A visitor (a new browser profile) opens the chat on `url`/demo/ and writes `text`, which
    is stored (its seq is on the page). Returns the visitor's page and the chat."""
    visitor = new_page(browser)
    chat = open_widget(visitor, url)
    send_as_visitor(chat, text)
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    return visitor, chat


def visitor_writes_and_alice_opens(
    browser: Browser, visitor_url: str, text: str, agent_url: str | None = None, **page: Any
) -> tuple[Page, FrameLocator, Page]:
    """A visitor (a new browser profile, `page` options) writes `text`; Alice opens that chat on
    her dashboard (at `agent_url`, if another process). Returns the visitor's page, the chat and
    Alice's page."""
    visitor = new_page(browser, **page)
    chat = open_widget(visitor, visitor_url)
    send_as_visitor(chat, text)
    alice = agent_page(browser, agent_url or visitor_url, "alice")
    alice.get_by_role("link", name=re.compile(re.escape(text))).click()
    expect(alice.locator("#pane .log")).to_be_attached()  # the chat opened beside the lists
    return visitor, chat, alice


def reply_as_agent(dashboard: Page, text: str) -> None:
    dashboard.get_by_role("textbox", name="Reply").fill(text)
    dashboard.get_by_role("button", name="Send").click()


def end_chat(dashboard: Page) -> None:
    """End the open chat as an agent does: End chat, then End chat again in the in-page
    confirmation (static/supportdesk/confirm.js)."""
    dashboard.locator("#pane").get_by_role("button", name="End chat").click()
    confirm_end(dashboard)


def confirm_end(dashboard: Page) -> None:
    """Answer the in-page "End this chat?" (asked by the End button or the `e` shortcut)."""
    dialog = dashboard.get_by_role("alertdialog", name="End this chat?")
    dialog.get_by_role("button", name="End chat").click()
    expect(dialog).to_be_hidden()


def bubbles(log: Any) -> list[str]:
    """The texts of the stored (not pending) messages in a log, in page order."""
    return log.locator(
        "li.msg[data-seq] .msg__bubble, li.msg[data-seq] .msg__system"
    ).all_inner_texts()


def member(dashboard: Page, name: str) -> Locator:
    """A colleague in the dashboard's Team list (its data-presence: online, away, offline)."""
    return dashboard.locator(".member", has_text=name)


def tab_count(dashboard: Page, view: str) -> Locator:
    """The count on a list tab of the dashboard: waiting, mine, open or ended."""
    return dashboard.locator(f"[data-view-button={view}] .count")


@contextmanager
def customer_site(page_html: Callable[[str], str]) -> Iterator[str]:
    """A customer's website, on another origin than the desk: `page_html(path)` is the page
    served at each path (called per request, so a page can carry a fresh signature). Yields its
    address. A real server: Chromium will not let a routed page load scripts from 127.0.0.1."""

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page_html(self.path).encode())

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
