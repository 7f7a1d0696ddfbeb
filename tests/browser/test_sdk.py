"""The JavaScript SDK on a customer's page (docs/API.md, "JavaScript SDK"): `window.Supportdesk`
called before the script loads, a sign-in on a single-page site, the page hearing the agent's
replies, and a logout that leaves nothing of the user on screen."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from agents.models import Agent
from chat.identity import identity_signature
from chat.models import Inbox, Visitor
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    customer_site,
    new_page,
    reply_as_agent,
    screenshot,
    send_as_visitor,
    widget_frame,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent.parent


def snippet() -> str:
    """What docs/API.md tells customers to paste before anything that calls the SDK."""
    section = (ROOT / "docs" / "API.md").read_text().split("## JavaScript SDK", 1)[1]
    return re.search(r"```html\n(<script>\n.*?</script>)\n", section, re.DOTALL).group(1)


def shop(desk: Desk, inbox: Inbox) -> str:
    """A single-page shop: it listens and opens the chat before /widget.js has loaded."""
    return f"""<!doctype html><title>Shop</title><main>Shop</main>
    {snippet()}
    <script>
      window.heard = [];
      window.loadedEarly = Boolean(Supportdesk.loaded);
      ["message", "open", "close", "unread"].forEach(function (name) {{
        Supportdesk.on(name, function (data) {{ heard.push([name, data === undefined ? null : data]); }});
      }});
      Supportdesk.open();
    </script>
    <script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}" async></script>"""


def heard(page: Page, name: str) -> list[Any]:
    return [data for event, data in page.evaluate("window.heard") if event == name]


def stored(page: Page, suffix: str) -> str | None:
    """What the widget keeps in its (the desk's) localStorage: `token`, `identity`."""
    frame = widget_frame(page)
    return frame.evaluate(
        "suffix => localStorage.getItem(`supportdesk:${document.body.dataset.inbox}:${suffix}`)",
        suffix,
    )


def signed(inbox: Inbox, *, user_id: str, email: str, name: str) -> dict[str, Any]:
    timestamp = int(time.time())
    return {
        "userId": user_id,
        "email": email,
        "name": name,
        "timestamp": timestamp,
        "signature": identity_signature(
            inbox.identity_secret, user_id=user_id, email=email, timestamp=timestamp
        ),
    }


def call(page: Page, method: str, *args: Any) -> str:
    """`Supportdesk[method](...args)` awaited: "ok", or the message it rejects with."""
    return page.evaluate(
        """([method, args]) => Supportdesk[method](...args).then(() => "ok", (e) => e.message)""",
        [method, list(args)],
    )


def test_a_shop_drives_the_widget_signs_in_hears_replies_and_logs_out(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    with customer_site(lambda _path: shop(desk, inbox)) as site:
        page = new_page(browser)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{site}/")
        assert page.evaluate("window.loadedEarly") is False  # the calls above were queued
        chat = page.frame_locator('iframe[title="Chat"]')
        # Opened by the queued call, and the queued listeners heard it.
        expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
        expect(page.get_by_role("button", name="Close chat")).to_be_visible()
        assert page.evaluate("Supportdesk.loaded") is True
        assert heard(page, "open") == [None]
        send_as_visitor(chat, "Browsing before I log in")
        expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Browsing before I log in"])
        anonymous = stored(page, "token")

        # A signature that is not the inbox's: refused, said why, and nothing changes.
        forged = signed(inbox, user_id="7", email="ann@example.com", name="Ann")
        forged["signature"] = "0" * 64
        assert call(page, "identify", forged) == "Supportdesk: bad_signature"
        assert any("identify: refused (bad_signature)" in text for text in console)
        assert stored(page, "token") == anonymous
        assert stored(page, "identity") is None
        expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Browsing before I log in"])

        # The shop's login: its server signs the user, the page hands it over. What the visitor
        # wrote before joins their account.
        ann_signed = signed(inbox, user_id="7", email="ann@example.com", name="Ann")
        assert call(page, "identify", ann_signed) == "ok"
        assert stored(page, "identity") == "7"
        ann = Visitor.objects.get(inbox=inbox, external_id="7")
        assert (ann.email, ann.name) == ("ann@example.com", "Ann")
        expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Browsing before I log in"])

        # What the shop knows of Ann, for the agents; within the desk's limits only.
        assert call(page, "setAttributes", {"plan": "pro", "seats": 12}) == "ok"
        refused = call(page, "setAttributes", {"notes": "x" * 5000})
        assert refused.startswith("Supportdesk: too_large: ")
        assert any("setAttributes: refused (too_large" in text for text in console)
        ann.refresh_from_db()
        assert ann.attributes == {"plan": "pro", "seats": 12}

        alice = agent_page(browser, desk, "alice")
        row = alice.get_by_role("link", name=re.compile("Browsing before I log in"))
        expect(row).to_contain_text("Ann")
        row.click()
        attributes = alice.locator(".context__attributes")
        expect(attributes.locator("dt")).to_have_text(["plan", "seats"])
        expect(attributes.locator("dd")).to_have_text(["pro", "12"])
        alice.get_by_role("button", name="Claim").click()
        reply_as_agent(alice, "Hello Ann, how can I help?")
        expect(chat.get_by_role("log")).to_contain_text("Hello Ann, how can I help?")
        page.wait_for_function("heard.some(([name]) => name === 'message')")
        [message] = heard(page, "message")  # once, and only the agent's reply
        assert message["body"] == "Hello Ann, how can I help?"
        assert (message["author"], message["sender"]) == ("Alice", "agent")
        assert message["seq"] > 1
        assert message["conversation"] > 0
        assert message["at"]
        assert page.evaluate("Supportdesk.unreadCount()") == 0  # the chat is open: seen
        # Only the desk's iframe is heard: the page itself (or another frame) is not.
        page.evaluate(
            """window.postMessage({type: "supportdesk:message", message: {body: "forged"}}, "*");
            window.postMessage({type: "supportdesk:unread", count: 5}, "*")"""
        )

        # Closed, a reply waits unseen: the page hears it and can count it.
        page.evaluate("Supportdesk.close()")
        expect(chat.get_by_role("textbox", name="Message")).to_be_hidden()
        assert heard(page, "close") == [None]
        # An internal note is never news for the page (the visitor's side never gets it).
        alice.locator("body").focus()
        alice.keyboard.press("n")
        note_box = alice.get_by_role("textbox", name="Internal note")
        note_box.fill("Customer is a VIP")
        note_box.press("Enter")
        expect(alice.locator(".msg--note")).to_contain_text("Customer is a VIP")
        alice.keyboard.press("Escape")
        alice.keyboard.press("r")
        reply_as_agent(alice, "Are you still there?")
        page.wait_for_function("Supportdesk.unreadCount() === 1")
        assert heard(page, "unread")[-1] == 1
        assert [m["body"] for m in heard(page, "message")] == [
            "Hello Ann, how can I help?",
            "Are you still there?",
        ]
        expect(page.get_by_role("button", name=re.compile("1 unread message"))).to_be_visible()
        page.evaluate("Supportdesk.toggle()")
        expect(chat.get_by_role("log")).to_contain_text("Are you still there?")
        page.wait_for_function("Supportdesk.unreadCount() === 0")
        screenshot(page, "sdk-signed-in")

        # Ann logs out on a shared computer: a fresh widget, nothing of hers.
        assert call(page, "logout") == "ok"
        assert page.evaluate("Supportdesk.unreadCount()") == 0
        expect(chat.get_by_role("textbox", name="Message")).to_be_visible()  # still open
        expect(chat.locator("li.msg[data-seq]")).to_have_count(0)
        expect(chat.get_by_role("log")).not_to_contain_text("Browsing before I log in")
        expect(chat.get_by_role("log")).to_contain_text("Hello from Acme!")  # the greeting
        page.wait_for_function(
            "() => [...document.querySelectorAll('#supportdesk-widget')].length === 1"
        )
        assert stored(page, "identity") is None
        fresh = stored(page, "token")  # opening the chat made a session: a new visitor's
        while fresh is None:
            page.wait_for_timeout(50)
            fresh = stored(page, "token")
        assert fresh not in (anonymous, None)
        newcomer = Visitor.objects.exclude(external_id="7").latest("pk")
        assert not newcomer.external_id
        assert not newcomer.conversations.exists()
        screenshot(page, "sdk-after-logout")
        assert "VIP" not in json.dumps(page.evaluate("window.heard"))
        assert "forged" not in json.dumps(page.evaluate("window.heard"))
        assert 5 not in heard(page, "unread")


def test_attributes_set_on_a_page_view_wait_for_the_chat_and_then_reach_the_agents(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    """A page view stores nothing, so attributes set before the visitor opens the chat wait in
    the widget (and the page's promise with them) until there is a session."""
    page_html = f"""<!doctype html><title>Shop</title><main>Shop</main>
    {snippet()}
    <script>
      window.answer = "waiting";
      Supportdesk.setAttributes({{plan: "free"}}).then(
        () => (answer = "stored"), (e) => (answer = e.message));
    </script>
    <script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}" async></script>"""
    with customer_site(lambda _path: page_html) as site:
        page = new_page(browser)
        page.goto(f"{site}/")
        expect(page.get_by_role("button", name="Open chat")).to_be_visible()
        page.wait_for_timeout(300)  # ample time for a session to be made, were one made
        assert page.evaluate("window.answer") == "waiting"
        assert not Visitor.objects.exists()
        page.get_by_role("button", name="Open chat").click()
        page.wait_for_function("window.answer !== 'waiting'")
        assert page.evaluate("window.answer") == "stored"
        assert Visitor.objects.get().attributes == {"plan": "free"}
