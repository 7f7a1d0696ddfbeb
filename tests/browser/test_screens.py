"""Screens that must not look unfinished (issue 20, item 6), in a real Chromium: the in-page
confirmation instead of the browser's confirm(), the top bar's toggles with their state, the
branded 403 page, and the inbox's Install page (snippet, live preview, "seen on your site",
the identity secret hidden until revealed)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Conversation, Inbox
from tests.browser.conftest import ARTIFACTS, Desk
from tests.browser.pages import (
    agent_page,
    customer_site,
    logged_in_page,
    new_context,
    new_page,
    screenshot,
    visitor_writes_and_alice_opens,
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ending_a_chat_asks_in_the_page_escape_cancels_and_end_chat_ends(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    _visitor, _chat, alice = visitor_writes_and_alice_opens(browser, desk.url, "Please close it")
    conversation = Conversation.objects.get()
    native: list[str] = []  # the browser's own confirm(): must never open
    alice.on("dialog", lambda dialog: (native.append(dialog.message), dialog.dismiss()))
    ends: list[str] = []
    alice.on(
        "request", lambda r: r.method == "POST" and r.url.endswith("/end") and ends.append(r.url)
    )

    end = alice.locator("#pane").get_by_role("button", name="End chat")
    end.click()
    dialog = alice.get_by_role("alertdialog", name="End this chat?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("The visitor is told the chat has ended")
    # Focus in the dialog, on the safe choice; the destructive button says what it does.
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    expect(dialog.get_by_role("button", name="End chat")).to_have_class(
        re.compile("button--danger")
    )
    screenshot(alice, "confirm-end-dialog")

    # Keys typed in the dialog are not the dashboard's shortcuts ("4": the Ended list).
    alice.keyboard.press("4")
    expect(alice.locator('[data-view-button="open"]')).to_have_attribute("aria-selected", "true")
    # Escape says no: the dialog closes, focus is back on End chat, nothing was sent.
    alice.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(end).to_be_focused()

    # The `e` shortcut asks the same question; Cancel says no too.
    alice.keyboard.press("e")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert ends == []
    conversation.refresh_from_db()
    assert conversation.status != Conversation.Status.ENDED

    # End chat in the dialog ends it, once; also when the header it was asked from was
    # replaced meanwhile (the chat claimed from another tab, pushed live): the yes goes to the
    # new header's End chat, without asking again.
    end.click()
    expect(dialog).to_be_visible()
    other_tab = alice.context.new_page()
    other_tab.goto(alice.url)
    other_tab.locator("#pane").get_by_role("button", name="Claim").click()
    expect(alice.locator("#pane .pane__header .badge")).to_contain_text("Active")
    dialog.get_by_role("button", name="End chat").click()
    expect(alice.locator("#pane .pane__header .badge")).to_have_text("Ended")
    expect(dialog).to_be_hidden()
    # Focus is not lost with the replaced header: it is on one of the new header's buttons.
    expect(alice.locator("#pane .pane__header :focus")).to_have_count(1)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ENDED
    assert len(ends) == 1
    assert native == []


def test_the_top_bar_toggles_are_buttons_whose_pressed_state_flips_and_stays(
    desk: Desk, browser: Browser, agent: Agent
) -> None:
    context = new_context(browser)
    context.grant_permissions(["notifications"], origin=desk.url)
    alice = agent_page(browser, desk, "alice", context=context)
    notifications = alice.get_by_role("button", name="Notifications", exact=True)
    sound = alice.get_by_role("button", name="Sound", exact=True)

    # Permission given: notifications on; sound off until the agent turns it on.
    expect(notifications).to_have_attribute("aria-pressed", "true")
    expect(notifications).to_have_text("Notifications: on")
    expect(sound).to_have_attribute("aria-pressed", "false")
    expect(sound).to_have_text("Sound: off")
    # Drawn as buttons: a visible border on the dark bar, not bare text.
    assert sound.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"
    off_fill = sound.evaluate("el => getComputedStyle(el).backgroundColor")
    screenshot(alice, "topbar-sound-off")

    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(sound).to_have_text("Sound: on")
    assert sound.evaluate("el => getComputedStyle(el).backgroundColor") != off_fill
    notifications.click()
    expect(notifications).to_have_attribute("aria-pressed", "false")
    expect(notifications).to_have_text("Notifications: off")
    screenshot(alice, "topbar-sound-on")

    # The bar still fits a 1024 px screen with the toggles' words in it.
    alice.set_viewport_size({"width": 1024, "height": 700})
    topbar = alice.locator(".topbar")
    assert topbar.evaluate("el => el.scrollWidth <= el.clientWidth")
    screenshot(alice, "topbar-1024")

    # Kept for this agent in this browser.
    alice.reload()
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(notifications).to_have_attribute("aria-pressed", "false")

    # A browser that refuses the permission: the button says "blocked", and where to allow it.
    bob = agent_page(browser, desk, "alice")
    blocked = bob.get_by_role("button", name="Notifications", exact=True)
    expect(blocked).to_have_attribute("aria-pressed", "false")
    blocked.click()  # asks; headless Chromium without the permission answers "denied"
    expect(blocked).to_have_text("Notifications: blocked")
    expect(blocked).to_have_attribute("aria-disabled", "true")
    expect(blocked).to_have_attribute("title", re.compile("site settings"))


def test_an_agent_without_the_permission_finds_no_analytics_link_and_a_clear_403(
    desk: Desk, browser: Browser, agent: Agent
) -> None:
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("button", name=re.compile("account menu")).click()
    menu = alice.locator("#account-menu-items")
    expect(menu.get_by_role("link", name="Saved replies")).to_be_visible()
    expect(menu.get_by_role("link", name="Analytics")).to_have_count(0)

    response = alice.goto(f"{desk.url}/agents/analytics/")
    assert response is not None
    assert response.status == 403
    expect(alice).to_have_title("No access — Supportdesk")
    expect(alice.get_by_role("heading", level=1)).to_have_text("You don't have access to this page")
    expect(alice.get_by_text("Analytics needs the permission")).to_be_visible()
    expect(alice.get_by_text("ask an admin of this desk")).to_be_visible()
    screenshot(alice, "error-403")
    alice.get_by_role("link", name="Back to the dashboard").click()
    expect(alice).to_have_url(f"{desk.url}/agents/")

    alice.goto(f"{desk.url}/agents/no-such-page/")
    expect(alice.get_by_role("heading", level=1)).to_have_text("Page not found")
    screenshot(alice, "error-404")


def test_the_install_page_copies_previews_live_checks_the_site_and_reveals_the_secret(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    get_user_model().objects.create_superuser(username="root", password=PASSWORD, email="")
    context = new_context(browser, viewport={"width": 1280, "height": 1100})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=desk.url)
    admin = logged_in_page(
        browser, desk, "root", f"/admin/chat/inbox/{inbox.pk}/change/", context=context
    )
    # The inbox's page: the secret masked, the Install page one click away.
    expect(admin.locator(".field-identity_secret_masked")).to_contain_text("••••")
    assert inbox.identity_secret not in admin.content()
    admin.screenshot(path=str(ARTIFACTS / "inbox-change-form.png"), full_page=True)
    admin.get_by_role("link", name="Install the widget").click()
    expect(admin.get_by_role("heading", name="1. Add the widget to your site")).to_be_visible()

    # Copy: the snippet is on the clipboard, and the page says so.
    snippet = f'<script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}" async></script>'
    expect(admin.locator("#install-snippet")).to_have_text(snippet)
    admin.locator(".install__step").first.get_by_role("button", name="Copy").click()
    expect(admin.locator("#install-snippet-copied")).to_have_text("Copied")
    assert admin.evaluate("navigator.clipboard.readText()") == snippet

    # The preview follows the fields as they are edited, before anything is saved.
    preview = admin.locator("#install-preview")
    header = preview.locator(".install-preview__header")
    expect(header).to_have_css("background-color", "rgb(59, 91, 219)")
    expect(preview.locator(".install-preview__title")).to_have_text("Acme support")
    admin.get_by_label("Accent colour").fill("#ffd43b")  # light: dark text on it
    expect(header).to_have_css("background-color", "rgb(255, 212, 59)")
    expect(header).to_have_css("color", "rgb(17, 17, 17)")
    admin.get_by_label("Widget title").fill("Acme help")
    expect(preview.locator(".install-preview__title")).to_have_text("Acme help")
    admin.get_by_label("Greeting").fill("Ahoy! Ask away.")
    expect(preview.locator(".install-preview__bubble--theirs")).to_have_text("Ahoy! Ask away.")
    launcher = preview.locator(".install-preview__launcher")
    right_x = launcher.bounding_box()["x"]
    admin.get_by_label("Bottom left").check()
    expect(preview).to_have_attribute("data-position", "left")
    assert launcher.bounding_box()["x"] < right_x
    inbox.refresh_from_db()
    assert inbox.accent_color == "#3b5bdb"  # nothing saved yet

    # Not seen yet; a visitor opens a page of the customer's site with the snippet: the check
    # turns to "seen" by itself (the page asks again every few seconds).
    seen = admin.locator("#install-seen")
    expect(seen).to_contain_text("Not seen yet")
    html = f"<!doctype html><title>Shop</title><main>Shop</main>{snippet}"
    with customer_site(lambda _path: html) as shop:
        visitor = new_page(browser)
        visitor.goto(f"{shop}/products")
        expect(visitor.get_by_role("button", name="Open chat")).to_be_visible()
        expect(seen).to_contain_text(f"Seen on {shop}", timeout=15_000)
    expect(seen.locator("[data-state]")).to_have_attribute("data-state", "seen")

    # The secret: hidden until Reveal, then with Copy and Hide.
    secret = admin.locator("#identity-secret")
    expect(secret).not_to_contain_text(inbox.identity_secret)
    admin.get_by_role("button", name="Reveal").click()
    expect(secret).to_have_text(inbox.identity_secret)
    screenshot(admin, "install-page")
    admin.screenshot(path=str(ARTIFACTS / "install-page-full.png"), full_page=True)
    admin.get_by_role("button", name="Hide").click()
    expect(secret).not_to_contain_text(inbox.identity_secret)
    expect(admin.get_by_role("button", name="Reveal")).to_be_focused()

    # Saved: the look is the inbox's now.
    admin.get_by_role("button", name="Save").click()
    expect(admin.locator(".messagelist")).to_contain_text("Saved")
    inbox.refresh_from_db()
    assert (inbox.accent_color, inbox.widget_title, inbox.launcher_position) == (
        "#ffd43b",
        "Acme help",
        "left",
    )
