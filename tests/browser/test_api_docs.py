"""The API's browsable docs (/api/v1/docs/, Swagger UI from the desk's own static files) in a
real browser: a logged-in agent sees every operation and can try one against the live API with
the session (docs/API.md, "Authentication and tokens")."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import logged_in_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_tries_an_operation_in_the_docs(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    page = logged_in_page(browser, desk, "alice", "/api/v1/tokens/", None)
    # Everything of that first page loaded (its favicon too), so leaving it for the docs aborts
    # nothing that the listeners below would count as a failed request.
    page.wait_for_load_state("networkidle")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(request.url))
    page.goto(f"{desk.url}/api/v1/docs/")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() >= 20  # every route of /api/v1/, the bot's included
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/bot/conversations/")
    ).to_have_count(2)

    page.locator(".opblock-summary", has_text="/api/v1/inboxes/").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table .response .response-col_status")
    expect(status).to_have_text("200")
    body = page.locator(".live-responses-table .response-col_description .microlight").first
    answered = json.loads(body.inner_text())
    assert [row["name"] for row in answered] == [inbox.name]
    screenshot(page, "api-docs-try-it-out")
    assert errors == []  # no script error, nothing fetched from elsewhere failed
