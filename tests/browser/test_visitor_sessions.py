"""The visitor's token in a real browser (chat.tokens): never in a socket URL, replaced when old
without the visitor noticing, and an admin's "Sign out everywhere" ends the widget's session at
once, without a reload."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.models import Agent
from chat.models import Inbox, Visitor
from chat.tokens import token_claims
from tests.browser.conftest import Desk
from tests.browser.pages import logged_in_page, new_page, open_widget, screenshot, send_as_visitor
from tests.browser.pages import widget_frame as frame_of
from tests.chat.test_visitor_tokens import DAY, claims_of, token_issued

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

READ_TOKEN = (
    """() => localStorage.getItem(Object.keys(localStorage).find((k) => k.endsWith(":token")))"""
)
WRITE_TOKEN = """(token) => localStorage.setItem(
    Object.keys(localStorage).find((k) => k.endsWith(":token")), token)"""


def socket_urls(page: Page) -> list[str]:
    """Every socket URL the page (its frames included) opens from now on."""
    urls: list[str] = []
    page.on("websocket", lambda socket: urls.append(socket.url))
    return urls


def test_an_old_token_is_replaced_quietly_and_a_sign_out_starts_a_new_chat(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, django_user_model
) -> None:
    visitor_page = new_page(browser)
    opened = socket_urls(visitor_page)
    chat = open_widget(visitor_page, desk.url)
    send_as_visitor(chat, "Where is my order?")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    token = frame_of(visitor_page).evaluate(READ_TOKEN)
    visitor = Visitor.objects.get(pk=token_claims(token).visitor_id)

    # The widget comes back two days later with the token it kept then.
    old = token_issued(claims_of(visitor), seconds_ago=2 * DAY)
    frame_of(visitor_page).evaluate(WRITE_TOKEN, old)
    visitor_page.reload()
    chat = open_widget(visitor_page, desk.url)
    expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Where is my order?"])
    expect(chat.locator("#connection-status")).to_have_attribute("data-state", "open")
    fresh = frame_of(visitor_page).evaluate(READ_TOKEN)
    assert fresh != old
    assert time.time() - token_claims(fresh).issued_at < 60
    assert token_claims(fresh).visitor_id == visitor.pk
    assert opened
    assert all("token" not in url for url in opened), opened

    # An admin signs the visitor out everywhere, from the visitor's admin page.
    django_user_model.objects.create_superuser("root", password="pw-root-123")
    admin = logged_in_page(browser, desk, "root", f"/admin/chat/visitor/{visitor.pk}/change/")
    screenshot(admin, "visitor-admin-sign-out")
    admin.get_by_role("button", name="Sign out everywhere").click()
    expect(admin.locator(".messagelist")).to_contain_text("signed out everywhere")

    # The open widget starts a new, empty session by itself: no reload.
    expect(chat.locator("li.msg[data-seq]")).to_have_count(0)
    expect(chat.locator("#connection-status")).to_have_attribute("data-state", "open")
    after = frame_of(visitor_page).evaluate(READ_TOKEN)
    assert token_claims(after).visitor_id != visitor.pk
    send_as_visitor(chat, "Hello again")
    expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Hello again"])
