"""The pages' scripts load and run without an error (static/supportdesk/: ES modules). A module
that fails to load or to link (a wrong path, a missing export) stops its whole page's script
with no more than a line in the console, so every other browser test would fail for reasons far
from the cause: this one names it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from agents.models import Agent
from chat.models import Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    new_page,
    reply_as_agent,
    screenshot,
    visitor_writes_and_alice_opens,
)
from tests.test_staticfiles import collect_static

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def record_script_errors(page: Page) -> list[str]:
    """What goes wrong with `page`'s scripts from now on, in any of its frames: uncaught
    exceptions, console errors (a module that fails to load says so there) and scripts the
    server does not serve."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and errors.append(f"console: {message.text} ({message.location.get('url')})")
        ),
    )

    def on_response(response: Response) -> None:
        if response.url.endswith(".js") and response.status >= 400:
            errors.append(f"{response.status}: {response.url}")

    page.on("response", on_response)
    return errors


def loaded_modules(page: Page) -> Callable[[], list[str]]:
    """The paths below /static/supportdesk/ of the scripts the page (or its frames) fetched,
    as they are fetched."""
    fetched: list[str] = []
    page.on(
        "response",
        lambda response: (
            "/static/supportdesk/" in response.url
            and response.url.endswith(".js")
            and fetched.append(response.url.split("/static/supportdesk/", 1)[1])
        ),
    )
    return lambda: sorted(set(fetched))


HASHED = re.compile(r"\.[0-9a-f]{12}\.js$")  # collectstatic's name: page.edce9d9d5991.js


def unhashed(names: list[str]) -> list[str]:
    return [HASHED.sub(".js", name) for name in names]


def chat_both_ways(browser: Browser, url: str) -> tuple[list[str], list[str]]:
    """A visitor writes and Alice answers at the desk at `url`, both pages watched from their
    first request. Returns the modules each page loaded; asserts neither had a script error."""
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, url, "Hello there")
    visitor_errors = record_script_errors(visitor)
    visitor_modules = loaded_modules(visitor)
    alice_errors = record_script_errors(alice)
    alice_modules = loaded_modules(alice)
    visitor.reload()
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()
    expect(chat.get_by_role("log")).to_contain_text("Hello there")
    alice.reload()  # at the conversation's own address: the pane comes with the page
    expect(alice.locator("#connection-status")).to_have_attribute("data-state", "open")
    reply_as_agent(alice, "Hi, how can I help?")
    expect(chat.get_by_role("log")).to_contain_text("Hi, how can I help?")
    screenshot(alice, "scripts-dashboard")
    screenshot(visitor, "scripts-widget")
    assert visitor_errors == []
    assert alice_errors == []
    return visitor_modules(), alice_modules()


def test_the_dashboard_and_the_widget_run_their_modules_without_an_error(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    widget, dashboard = chat_both_ways(browser, desk.url)
    assert {"widget-frame.js", "composer/outbox.js"} <= set(widget)
    assert {"dashboard.js", "dashboard/reply-box.js"} <= set(dashboard)


def test_with_hashed_static_files_as_in_production_every_module_loads_once_by_its_hash(
    desk_factory: Callable[..., Desk],
    browser: Browser,
    inbox: Inbox,
    agent: Agent,
    tmp_path: Path,
) -> None:
    """collectstatic rewrote the imports (supportdesk/staticfiles.py): a module reached by its
    plain name as well would run twice, with every listener doubled."""
    collect_static(tmp_path)
    production = desk_factory(STATIC_MANIFEST="1", STATIC_ROOT=str(tmp_path))
    widget, dashboard = chat_both_ways(browser, production.url)
    for loaded in (widget, dashboard):
        assert all(HASHED.search(name) for name in loaded), loaded
        assert len(set(unhashed(loaded))) == len(loaded), loaded
    assert {"widget-frame.js", "composer/outbox.js"} <= set(unhashed(widget))
    assert {"dashboard.js", "dashboard/reply-box.js"} <= set(unhashed(dashboard))


def test_the_login_page_runs_the_shared_module_without_an_error(
    desk: Desk, browser: Browser
) -> None:
    page = new_page(browser)
    errors = record_script_errors(page)
    modules = loaded_modules(page)
    page.goto(f"{desk.url}/agents/")  # signed out: the login page, which extends base.html
    expect(page.get_by_role("button", name=re.compile("log in", re.IGNORECASE))).to_be_visible()
    page.wait_for_load_state("load")
    assert "realtime/page.js" in modules()
    assert errors == []
