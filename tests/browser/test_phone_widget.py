"""The widget on a phone (issue 20, item 4), as the iframe shows it at 360x640 and 390x844:
inputs at least 16 px (iOS Safari zooms into smaller ones), an icon Send button with an
accessible name, and the header's title and away line each on one line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, Page, expect

from chat.models import Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import new_page, open_widget, send_as_visitor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(tempfile.gettempdir()) / "sends"  # screenshots to look at
PHONES = [(360, 640), (390, 844)]


def lines(element: Locator) -> int:
    """How many lines the element's text takes (its text's boxes, grouped by height on screen)."""
    return element.evaluate(
        """el => {
          const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          const middles = [];
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(node);
            for (const r of range.getClientRects()) if (r.width > 0) middles.push((r.top + r.bottom) / 2);
          }
          middles.sort((a, b) => a - b);
          return middles.filter((m, i) => i === 0 || m - middles[i - 1] > 4).length;
        }"""
    )


def open_on_phone(
    browser: Browser, desk: Desk, width: int, height: int
) -> tuple[Page, FrameLocator]:
    phone = new_page(
        browser, viewport={"width": width, "height": height}, is_mobile=True, has_touch=True
    )
    return phone, open_widget(phone, desk.url)


@pytest.mark.parametrize(("width", "height"), PHONES)
def test_the_widget_on_a_phone_has_big_enough_inputs_an_icon_send_and_a_one_line_header(
    desk: Desk, browser: Browser, inbox: Inbox, width: int, height: int
) -> None:
    phone, chat = open_on_phone(browser, desk, width, height)
    box = chat.get_by_role("textbox", name="Message")
    expect(box).to_be_visible()
    # Nobody is online: the away line shows, and fits beside the title on one line each.
    away = chat.locator("#availability")
    expect(away).to_have_attribute("data-online", "false")
    expect(away).to_be_visible()
    SHOTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(SHOTS / f"phone-{width}x{height}-open.png"))
    assert lines(away) == 1, away.inner_text()
    assert lines(chat.locator(".widget__title")) == 1

    # Every field a visitor types in: at least 16 px, or iOS zooms the page into it.
    sizes = chat.locator("body").evaluate(
        """() => [...document.querySelectorAll('textarea, input, select')]
          .filter(el => el.type !== 'hidden' && el.type !== 'file' && el.type !== 'radio')
          .map(el => [el.id || el.name, parseFloat(getComputedStyle(el).fontSize)])"""
    )
    assert sizes, "no fields found"
    assert all(size >= 16 for _, size in sizes), sizes

    # Send: an icon button with a name, not a quarter of the width.
    send = chat.get_by_role("button", name="Send", exact=True)
    expect(send).to_be_in_viewport(ratio=1)
    box_width = send.bounding_box()["width"]
    assert box_width <= 48, box_width
    assert send.inner_text().strip() == ""  # the name is its aria-label
    text_width = box.bounding_box()["width"]
    assert text_width >= width * 0.6, text_width

    send_as_visitor(chat, "Hello from my phone")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    expect(box).to_have_value("")
    phone.screenshot(path=str(SHOTS / f"phone-{width}x{height}-chatting.png"))

    # A refused message on a phone: the reason and its three buttons fit the screen.
    chat.locator("#composer").evaluate("form => { form.dataset.maxLength = ''; }")
    send_as_visitor(chat, "Z" * 5001)
    refused = chat.locator('li[data-state="refused"]')
    for name in ("Retry", "Edit", "Remove"):
        expect(refused.get_by_role("button", name=name)).to_be_in_viewport(ratio=1)
    phone.screenshot(path=str(SHOTS / f"phone-{width}x{height}-refused.png"))


def test_the_send_button_is_named_in_the_visitors_language(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    phone = new_page(browser, viewport={"width": 360, "height": 640}, locale="de-DE")
    phone.goto(f"{desk.url}/widget/{inbox.public_key}/")  # the page as the iframe loads it
    expect(phone.locator("button.composer__send")).to_have_accessible_name("Senden")
