"""A widget with a face, in a real browser: the team's faces and an honest reply time before
anyone joins, the agent's face and name in the header after a claim, the inbox's logo beside
the greeting, one time under a run of messages, a transfer said as the visitor should hear it,
the end of a chat as one card that folds once rated, and a preview bubble beside the closed
launcher. Screenshots go to test-artifacts/ (face-*.png)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image
from playwright.sync_api import Browser, FrameLocator, Page, expect

from agents.models import Agent
from agents.services import agent_reply, conversation_claim, conversation_transfer
from chat.models import Conversation, Inbox, Visitor
from chat.services import conversation_end
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 640}


def png(colour: str) -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(buffer, "PNG")
    return ContentFile(buffer.getvalue())


def answered_before(inbox: Inbox, minutes: list[float]) -> None:
    """Chats of the last days whose first answers took these many minutes."""
    for n, wait in enumerate(minutes):
        visitor = Visitor.objects.create(inbox=inbox)
        now = timezone.now()
        conversation = Conversation.objects.create(
            inbox=inbox, visitor=visitor, status="ended", ended_at=now
        )
        started = now - timedelta(days=1, hours=n)
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=started, first_response_at=started + timedelta(minutes=wait)
        )


def visible_times(chat: FrameLocator, sender: str) -> int:
    """How many times under the `sender`'s messages a sighted reader sees."""
    times = chat.locator(f"li.msg--{sender}[data-seq] .msg__meta")
    return sum(1 for i in range(times.count()) if times.nth(i).bounding_box()["width"] > 1)


def test_the_header_has_the_teams_faces_then_the_agents_and_the_greeting_the_logo(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    inbox.logo.save("acme.png", png("#f08c00"))
    agent.avatar.save("alice.png", png("#0ca678"))
    answered_before(inbox, [2, 3, 4])  # a median of 3 minutes
    alice = agent_page(browser, desk, "alice")  # online: one of the team's faces

    for name, size in (("desktop", None), ("phone", PHONE)):
        visitor = new_page(browser, **({"viewport": size} if size else {}))
        chat = open_widget(visitor, desk.url)
        header = chat.locator(".widget__header")
        expect(header.locator(".widget__faces img.face")).to_have_count(1)  # Alice, online
        expect(header).to_contain_text("Typically replies in a few minutes")
        greeting = chat.locator("#greeting .msg__avatar")
        expect(greeting).to_have_attribute("src", re.compile(r"^logo\?v="))
        assert greeting.evaluate("img => img.complete && img.naturalWidth") == 96
        face = header.locator(".widget__faces img")
        expect(face).to_have_attribute("src", f"faces/{agent.pk}")
        assert face.evaluate("img => img.complete && img.naturalWidth") == 96
        screenshot(visitor, f"face-open-before-claim-{name}")
        visitor.context.close()

    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Is my order on its way?")
    alice.get_by_role("link", name=re.compile("Is my order")).click()
    alice.get_by_role("button", name="Claim").click()
    expect(chat.locator("#header-agent-name")).to_have_text("Alice")
    expect(chat.locator("#header-agent-face img")).to_be_visible()
    expect(chat.locator(".widget__faces")).to_be_hidden()
    expect(chat.locator(".widget__reply-time")).to_be_hidden()
    expect(chat.locator(".widget__inbox-name")).to_have_text("Acme support")

    # Three answers within a minute: one time under the run, each exact time on hover.
    conversation = Conversation.objects.get(visitor__inbox=inbox, status="active")
    for text in ("Let me check.", "Found it.", "It left the warehouse today."):
        agent_reply(conversation=conversation, agent=agent, body=text, client_id=uuid4())
    expect(chat.get_by_text("It left the warehouse today.")).to_be_visible()
    expect(chat.locator("li.msg--agent.msg--grouped")).to_have_count(2)
    assert visible_times(chat, "agent") == 1
    last = chat.locator("li.msg--agent[data-seq]").last
    assert last.locator(".msg__meta").bounding_box()["width"] > 1
    first = chat.locator("li.msg--agent[data-seq]").first
    assert re.search(r"\d", first.locator(".msg__content").get_attribute("title") or "")
    # The agent's face beside their bubbles is their photo.
    expect(last.locator("img.msg__avatar")).to_have_attribute("src", f"faces/{agent.pk}")
    screenshot(visitor, "face-chatting-desktop")
    visitor.set_viewport_size(PHONE)
    screenshot(visitor, "face-chatting-phone")


def test_a_transfer_reads_as_who_the_visitor_now_talks_to(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    visitor = new_page(browser)
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Hello?")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    alice = agent_page(browser, desk, "alice")
    alice.get_by_role("link", name=re.compile("Hello")).click()
    alice.get_by_role("button", name="Claim").click()
    expect(chat.locator("#header-agent-name")).to_have_text("Alice")
    conversation = Conversation.objects.get()
    conversation_transfer(conversation=conversation, by=agent, to=second_agent)
    expect(chat.locator("li.msg--system .msg__system").last).to_have_text(
        "You're now chatting with Bob."
    )
    expect(chat.locator("#header-agent-name")).to_have_text("Bob")
    expect(chat.get_by_role("log")).not_to_contain_text("transferred")
    expect(alice.get_by_role("log")).to_contain_text("Alice transferred the chat to Bob.")
    screenshot(visitor, "face-transferred-initials")
    screenshot(alice, "face-transferred-dashboard")
    visitor.reload()  # the history, loaded: the same
    open_widget(visitor, desk.url)
    expect(chat.get_by_role("log")).to_contain_text("You're now chatting with Bob.")
    expect(chat.get_by_role("log")).not_to_contain_text("transferred")


def test_the_end_of_a_chat_is_one_card_gone_once_rated(
    desk_factory: Callable[..., Desk], browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    server = desk_factory(SUPPORTDESK_SITE_URL="https://desk.example.com")
    for name, size in (("desktop", None), ("phone", PHONE)):
        visitor = new_page(browser, **({"viewport": size} if size else {}))
        chat = open_widget(visitor, server.url)
        send_as_visitor(chat, f"Thanks, that's all ({name})")
        expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
        conversation = Conversation.objects.get()
        conversation_claim(conversation=conversation, agent=agent)
        conversation_end(conversation=conversation, by=agent)
        card = chat.locator(".end-card")
        expect(card).to_have_count(1)
        expect(card.get_by_role("heading", name="This chat has ended")).to_be_visible()
        expect(card.get_by_role("group", name="How was this chat?")).to_be_visible()
        expect(card.get_by_role("textbox", name="Comment (optional)")).to_be_visible()
        # Nothing else piles up under the log: no other tinted strip, no second form.
        expect(chat.locator(".email-capture")).to_be_hidden()
        expect(chat.locator("#conversation-state > :visible")).to_have_count(1)
        # The transcript's address field says why it is asked.
        card.get_by_role("button", name="Email me the transcript").click()
        address = card.get_by_role("textbox", name="Where should we send the transcript?")
        expect(address).to_be_visible()
        label = card.locator("label[for^=transcript-email]")
        expect(label).to_be_visible()
        screenshot(visitor, f"face-ended-card-{name}")
        box = card.bounding_box()
        assert box["height"] < visitor.viewport_size["height"] * 0.6
        card.locator(".rating__stars label").filter(has_text="5 out of 5").click()
        card.get_by_role("button", name="Send rating").click()
        expect(chat.locator(".end-card")).to_have_count(0)
        expect(chat.locator(".end-line")).to_contain_text("You rated this chat 5 out of 5.")
        screenshot(visitor, f"face-ended-rated-{name}")
        visitor.context.close()
        Conversation.objects.all().delete()


def preview(page: Page):
    return page.locator("#supportdesk-widget .preview")


def test_a_reply_while_closed_shows_a_preview_beside_the_launcher(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor = new_page(browser, viewport=PHONE)
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "Do you ship to Norway?")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    conversation = Conversation.objects.get()
    chat.get_by_role("button", name="Close chat").click()  # inside the chat: full screen
    expect(visitor.get_by_role("button", name=re.compile("^Open chat"))).to_be_visible()
    expect(preview(visitor)).to_be_hidden()

    agent_reply(conversation=conversation, agent=agent, body="Yes, in 3 days.", client_id=uuid4())
    expect(preview(visitor)).to_be_visible()
    expect(preview(visitor)).to_contain_text("Alice")
    expect(preview(visitor)).to_contain_text("Yes, in 3 days.")
    # On a phone it stays in the launcher's corner: the right 240 px, the bottom 170 px.
    box = preview(visitor).bounding_box()
    assert box["x"] >= PHONE["width"] - 240, box
    assert box["y"] >= PHONE["height"] - 170, box
    assert box["x"] + box["width"] <= PHONE["width"], box
    screenshot(visitor, "face-preview-phone")
    visitor.get_by_role("button", name="Dismiss").click()
    expect(preview(visitor)).to_be_hidden()

    # The next one shows again; opening the chat from the bubble shows the reply.
    agent_reply(conversation=conversation, agent=agent, body="Free over 50 €.", client_id=uuid4())
    expect(preview(visitor)).to_contain_text("Free over 50 €.")
    visitor.set_viewport_size({"width": 1280, "height": 800})
    screenshot(visitor, "face-preview-desktop")
    preview(visitor).locator(".pv-open").click()
    expect(preview(visitor)).to_be_hidden()
    expect(chat.get_by_text("Free over 50 €.")).to_be_visible()
