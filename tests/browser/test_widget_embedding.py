"""The widget on a customer's page: a hostile host page, language and look, keyboard and phone,
out of hours, the pre-chat form, and a signed-in user on every device."""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    customer_site,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_embed_leaves_a_hostile_host_page_alone_and_vice_versa(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    html = f"""<!doctype html><title>Shop</title>
    <style>* {{ color: red !important; font-family: serif !important; }}
    button {{ display: none !important; }} iframe {{ width: 1px !important; }}</style>
    <script>window.__before = Object.keys(window);</script>
    <main id="host">Our shop</main>
    <script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}" async></script>"""

    with customer_site(lambda _path: html) as shop:
        page = new_page(browser)
        page.goto(f"{shop}/")
        launcher = page.get_by_role("button", name="Open chat")
        expect(launcher).to_be_visible()  # the host's `button { display: none }` cannot reach it
        launcher.click()
        chat = page.frame_locator('iframe[title="Chat"]')
        expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
        width = page.locator("#supportdesk-widget").evaluate(
            "host => host.shadowRoot.querySelector('iframe').getBoundingClientRect().width"
        )
        assert width > 300  # nor its `iframe { width: 1px }`
        added = page.evaluate(
            "Object.keys(window).filter(k => k !== '__before' && !window.__before.includes(k))"
        )
        assert sorted(added) == ["Supportdesk"]  # the SDK (docs/API.md), and nothing else
        assert page.title() == "Shop"
        host_color = page.locator("#host").evaluate("el => getComputedStyle(el).color")
        assert host_color == "rgb(255, 0, 0)"  # and the widget does not touch the host's


def test_the_widget_speaks_the_browsers_language_and_the_inbox_has_its_look(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    inbox.widget_title = "Acme Hilfe"
    inbox.accent_color = "#2b8a3e"
    inbox.launcher_position = Inbox.LauncherPosition.LEFT
    inbox.save()
    visitor = new_page(browser, locale="de-DE")
    visitor.goto(f"{desk.url}/demo/")
    launcher = visitor.get_by_role("button", name="Chat öffnen")
    expect(launcher).to_be_visible()
    # The launcher shows once the widget page has told it the inbox's look.
    visitor.wait_for_function(
        "() => document.getElementById('supportdesk-widget').shadowRoot.querySelector('.left')"
    )
    assert launcher.bounding_box()["x"] < 100  # bottom left, as the inbox says
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(43, 138, 62)"
    launcher.click()
    chat = visitor.frame_locator('iframe[title="Chat"]')
    expect(chat.get_by_role("heading", name="Acme Hilfe")).to_be_visible()
    expect(chat.locator("#availability")).to_have_text(re.compile("Wir sind gerade nicht da"))
    box = chat.get_by_role("textbox", name="Nachricht")
    expect(box).to_have_attribute("placeholder", "Nachricht schreiben…")
    box.fill("Hallo, ist jemand da?")
    chat.get_by_role("button", name="Senden", exact=True).click()
    # Rendered by the socket, in German too: the state line and the place in line.
    expect(chat.locator(".chat-state[data-status]")).to_have_text(
        re.compile("Warten auf einen Mitarbeiter")
    )
    expect(chat.locator(".queue")).to_have_text("Sie sind Nummer 1 in der Warteschlange.")
    send_button = chat.locator(".composer__send")
    assert send_button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(43, 138, 62)"
    screenshot(visitor, "widget-german")
    # Lines stored for everyone stay in the desk's language, whoever caused them.
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Hallo, ist jemand da")).click()
    alice.get_by_role("button", name="Claim").click()
    expect(chat.get_by_role("log")).to_contain_text("Alice joined the chat.")
    expect(chat.locator(".chat-state[data-status]")).to_have_text(
        re.compile("Sie chatten mit Alice")
    )


def test_the_widget_works_by_keyboard_alone_and_fills_a_phone_screen(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    page = new_page(browser)
    held = []  # the widget page, held back: a slow network
    page.route(re.compile(r"/widget/[^/]+/$"), lambda route: held.append(route))
    page.goto(f"{desk.url}/demo/")
    launcher = page.get_by_role("button", name="Open chat")
    while not held:
        page.wait_for_timeout(50)
    # Until the chat can listen, its launcher is neither shown nor reachable by Tab: a key
    # pressed on it would open a frame that never heard it was opened.
    unready = page.locator("#supportdesk-widget .launcher")  # hidden: not in the a11y tree
    expect(unready).to_be_hidden()
    for _ in range(6):
        page.keyboard.press("Tab")
    expect(unready).not_to_be_focused()
    held[0].continue_()
    expect(launcher).to_be_visible()
    page.locator("body").focus()
    for _ in range(6):  # Tab through the host page to the launcher
        page.keyboard.press("Tab")
        if launcher.evaluate("b => b.matches(':focus-visible')"):
            break
    expect(launcher).to_be_focused()
    assert launcher.evaluate("b => getComputedStyle(b).outlineStyle") != "none"  # visible focus
    page.keyboard.press("Enter")
    chat = page.frame_locator('iframe[title="Chat"]')
    box = chat.get_by_role("textbox", name="Message")
    expect(box).to_be_focused()  # straight into the message box
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Enter")
    log = chat.get_by_role("log")  # a live region: screen readers announce new messages
    expect(log.locator("li.msg[data-seq]")).to_contain_text(["Typed without a mouse"])
    page.keyboard.press("Escape")
    expect(chat.get_by_role("textbox", name="Message")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("^Open chat"))).to_be_focused()

    phone = new_page(browser, viewport={"width": 390, "height": 780}, is_mobile=True)
    phone.goto(f"{desk.url}/demo/")
    phone.get_by_role("button", name="Open chat").click()
    frame = phone.locator("#supportdesk-widget").evaluate(
        "h => { const r = h.shadowRoot.querySelector('iframe').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; }"
    )
    assert frame == [0, 0, 390, 780]  # the whole screen
    screenshot(phone, "widget-phone")


def test_out_of_hours_the_widget_says_when_and_takes_an_email_and_the_chat_still_queues(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    from datetime import time
    from zoneinfo import ZoneInfo

    from chat.hours import next_opening

    tomorrow = timezone.now().astimezone(ZoneInfo("Europe/Berlin")).isoweekday() % 7 + 1
    inbox.time_zone = "Europe/Berlin"
    inbox.opens_at, inbox.closes_at, inbox.open_days = time(9), time(17), str(tomorrow)
    inbox.save()
    opens = next_opening(inbox)
    alice = agent_page(browser, desk, "alice")  # online, but the inbox is closed
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.locator("#availability")).to_have_text(
        f"We're closed — we open again {opens:%A %H:%M} (Europe/Berlin). "
        "Leave a message and we'll reply then."
    )
    send_as_visitor(chat, "Can someone call me back?")
    email = chat.get_by_role("textbox", name="Your email, so we can reply:")
    email.fill("ann@example.com")
    chat.get_by_role("button", name="Save").click()
    expect(chat.get_by_text("We'll reply to you at ann@example.com.")).to_be_visible()
    screenshot(visitor, "widget-closed")
    row = alice.get_by_role("link", name=re.compile("Can someone call me back"))
    expect(row).to_be_visible()  # the message reached the queue all the same
    row.click()
    expect(alice.get_by_role("complementary", name="Visitor")).to_contain_text("ann@example.com")


def test_an_inbox_with_a_pre_chat_form_asks_name_and_email_first_and_once(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    inbox.prechat_form = True
    inbox.save()
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    expect(chat.get_by_role("textbox", name="Name")).to_be_focused()
    expect(chat.get_by_role("textbox", name="Message")).to_be_hidden()
    chat.get_by_role("textbox", name="Name").fill("Ann Lee")
    chat.get_by_role("textbox", name="Email").fill("not-an-address")
    chat.get_by_role("button", name="Start chat").click()
    expect(chat.get_by_role("alert")).to_contain_text("valid email")
    chat.get_by_role("textbox", name="Email").fill("ann@example.com")
    screenshot(visitor, "widget-prechat")
    chat.get_by_role("button", name="Start chat").click()
    send_as_visitor(chat, "Hello, it's Ann")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    # Nobody is online, but the address is known: the widget does not ask for it again.
    expect(chat.locator("#availability")).to_have_attribute("data-online", "false")
    expect(chat.get_by_text("Your email, so we can reply:")).to_be_hidden()
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Hello, it's Ann")).click()
    context = alice.get_by_role("complementary", name="Visitor")
    expect(context).to_contain_text("Ann Lee")
    expect(context).to_contain_text("ann@example.com")
    visitor.reload()  # asked once
    visitor.get_by_role("button", name=re.compile("^Open chat")).click()
    expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
    expect(chat.get_by_role("textbox", name="Name")).to_be_hidden()


def test_a_signed_in_user_has_their_chat_on_every_device_and_a_shared_computer_forgets_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:

    from chat.identity import identity_signature

    def shop_page(path: str) -> str:
        """The customer's site: /account is Ann signed in (signed fresh per page), / is nobody."""
        tag = f'<script src="{desk.url}/widget.js" data-inbox="{inbox.public_key}"'
        if path.startswith("/account"):
            ts = int(time.time())
            sig = identity_signature(
                inbox.identity_secret, user_id="42", email="ann@example.com", timestamp=ts
            )
            tag += (
                f' data-user-id="42" data-user-email="ann@example.com" data-user-name="Ann"'
                f' data-user-timestamp="{ts}" data-user-signature="{sig}"'
            )
        return (
            '<!doctype html><meta name="viewport" content="width=device-width">'
            f"<title>Shop</title><main>Shop</main>{tag} async></script>"
        )

    with customer_site(shop_page) as shop:
        laptop = new_page(browser)
        laptop.goto(f"{shop}/account")
        laptop.get_by_role("button", name="Open chat").click()
        chat = laptop.frame_locator('iframe[title="Chat"]')
        send_as_visitor(chat, "Written on my laptop")
        expect(chat.locator("li.msg[data-seq]")).to_contain_text(["Written on my laptop"])

        # The agent sees who it is: the site vouched for the email and name.
        alice = agent_page(browser, desk, "alice")
        row = alice.get_by_role("link", name=re.compile("Written on my laptop"))
        expect(row).to_contain_text("Ann")

        phone = new_page(browser, viewport={"width": 390, "height": 780}, is_mobile=True)
        time.sleep(1)  # another page, another timestamp: a signature of its own
        phone.goto(f"{shop}/account")
        phone.get_by_role("button", name="Open chat").click()
        on_phone = phone.frame_locator('iframe[title="Chat"]')
        expect(on_phone.locator("li.msg[data-seq]")).to_contain_text(["Written on my laptop"])
        screenshot(phone, "identity-second-device")

        # Ann signs out on the laptop (the site renders no identity): the next person at this
        # computer sees an empty chat, not hers.
        laptop.goto(f"{shop}/")
        laptop.get_by_role("button", name="Open chat").click()
        expect(chat.get_by_role("textbox", name="Message")).to_be_visible()
        expect(chat.locator("li.msg[data-seq]")).to_have_count(0)
        expect(chat.get_by_role("log")).not_to_contain_text("Written on my laptop")
