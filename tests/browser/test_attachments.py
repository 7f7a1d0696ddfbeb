"""Files, as people send them (chat.attachments, static/supportdesk/uploads.js): the paperclip,
pasting a screenshot, a refused file, both sides live, a reload, and nobody else's files."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from agents.models import Agent
from chat.models import Attachment, Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import agent_page, new_page, open_widget, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def png(size: tuple[int, int] = (900, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "steelblue").save(out, "PNG")
    return out.getvalue()


def test_a_visitor_sends_a_screenshot_and_a_pdf_and_the_agent_one_back(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    chat.locator("input[type=file]").set_input_files(
        [
            {"name": "screenshot.png", "mimeType": "image/png", "buffer": png()},
            {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ]
    )
    tray = chat.locator(".composer__tray")
    expect(tray.locator('.upload[data-state="done"]')).to_have_count(2)
    expect(tray.locator("img.upload__thumb")).to_have_count(1)
    chat.get_by_role("textbox", name="Message").fill("The error, and my invoice")
    chat.get_by_role("button", name="Send", exact=True).click()
    stored = chat.locator("li.msg[data-seq]").filter(has_text="my invoice")
    expect(stored.locator("img")).to_have_count(1)
    expect(stored.get_by_role("link", name=re.compile("invoice.pdf"))).to_be_visible()
    expect(tray).to_be_hidden()

    dashboard = agent_page(browser, desk, "alice")
    dashboard.get_by_role("link", name=re.compile("my invoice")).click()
    message = dashboard.get_by_role("log").locator("li.msg").filter(has_text="my invoice")
    image = message.locator("img")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("width", "480")
    # Really served: the thumbnail decodes (once loaded) to the size its box says.
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 480
    # The full image in a viewer, by keyboard: Enter on the thumbnail opens it, Escape closes
    # it and the thumbnail has the focus again.
    thumbnail_link = message.locator("a[data-image-viewer]")
    thumbnail_link.focus()
    dashboard.keyboard.press("Enter")
    viewer = dashboard.get_by_role("dialog")
    expect(viewer).to_be_visible()
    full = viewer.locator("img")
    assert full.evaluate("img => img.decode().then(() => img.naturalWidth)") == 900
    screenshot(dashboard, "attachments-viewer")
    dashboard.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(thumbnail_link).to_be_focused()
    with dashboard.expect_download() as download:
        message.get_by_role("link", name=re.compile("invoice.pdf")).click()
    with open(download.value.path(), "rb") as saved:
        assert saved.read() == PDF
    screenshot(dashboard, "attachments-dashboard")

    # The agent sends a file back; the visitor sees it live.
    dashboard.get_by_role("button", name="Claim").click()
    dashboard.locator(".composer input[type=file]").set_input_files(
        [{"name": "return-label.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(dashboard.locator('.composer__tray .upload[data-state="done"]')).to_have_count(1)
    dashboard.get_by_role("button", name="Send").click()
    expect(chat.get_by_role("link", name=re.compile("return-label.pdf"))).to_be_visible()
    screenshot(visitor, "attachments-widget")

    # A reload keeps everything, and the visitor's own links work.
    visitor.reload()
    chat = open_widget(visitor, desk.url)
    expect(chat.get_by_role("link", name=re.compile("return-label.pdf"))).to_be_visible()
    expect(chat.locator("li.msg .file img")).to_have_count(1)  # avatars aside
    href = chat.get_by_role("link", name=re.compile("invoice.pdf")).get_attribute("href")
    assert href
    assert "pass=" in href
    assert visitor.request.get(desk.url + href).status == 200

    # Another visitor, and an agent's link without a session, get nothing.
    stranger = new_page(browser)
    assert stranger.request.get(desk.url + href.split("?")[0]).status == 404
    key = Attachment.objects.get(name="invoice.pdf").key
    assert stranger.request.get(f"{desk.url}/agents/files/{key}/invoice.pdf").url.startswith(
        f"{desk.url}/accounts/login/"
    )


def test_a_pasted_screenshot_is_attached_and_a_refused_file_says_why(
    desk: Desk, browser: Browser, inbox: Inbox
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    box = chat.get_by_role("textbox", name="Message")
    box.fill("Pasted:")
    # What a browser does with Ctrl+V of a screenshot: a paste event carrying an image file.
    box.evaluate(
        """async (box) => {
            const canvas = Object.assign(document.createElement("canvas"), {width: 40, height: 30});
            canvas.getContext("2d").fillRect(0, 0, 40, 30);
            const blob = await new Promise((done) => canvas.toBlob(done, "image/png"));
            const data = new DataTransfer();
            data.items.add(new File([blob], "image.png", {type: "image/png"}));
            box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true}));
        }"""
    )
    tray = chat.locator(".composer__tray")
    expect(tray.locator('.upload[data-state="done"]')).to_have_count(1)
    expect(box).to_have_value("Pasted:")  # the file was attached, not pasted as text
    # A program named like a picture: refused, with its name and the reason, nothing else lost.
    chat.locator("input[type=file]").set_input_files(
        [{"name": "cat.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00" + b"\x00" * 300}]
    )
    refused = tray.locator('.upload[data-state="failed"]')
    expect(refused).to_contain_text("cat.png is a program")
    chat.get_by_role("button", name="Send", exact=True).click()
    stored = chat.locator("li.msg[data-seq]").filter(has_text="Pasted:")
    expect(stored.locator("img")).to_have_count(1)
    expect(refused).to_be_visible()  # still there to read, until removed
    refused.get_by_role("button", name=re.compile("Remove")).click()
    expect(tray).to_be_hidden()
