"""The link in a missed-replies email (mail.views.continue_chat), followed in a real browser:
the widget page opens on that visitor's chat, whoever used the browser before."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, expect

from agents.models import Agent
from agents.services import agent_reply, conversation_claim
from chat.models import Conversation, Inbox
from chat.services import conversation_end, visitor_create, visitor_message_send
from mail.models import OutboundEmail
from mail.tokens import continue_token
from tests.browser.conftest import Desk
from tests.browser.pages import agent_page, new_page, open_widget, screenshot, send_as_visitor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_emailed_link_reopens_the_visitors_chat_in_a_browser_that_had_another(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor = visitor_create(inbox=inbox)
    visitor.email = "ann@example.com"
    visitor.save(update_fields=["email"])
    sent = visitor_message_send(visitor=visitor, body="Is my order late?", client_id=uuid.uuid4())
    conversation = sent.message.conversation
    conversation_claim(conversation=conversation, agent=agent)
    agent_reply(
        conversation=conversation, agent=agent, body="It ships Monday.", client_id=uuid.uuid4()
    )

    # This browser had a chat of someone else's (a shared computer).
    page = new_page(browser)
    chat = open_widget(page, desk.url)
    send_as_visitor(chat, "Someone else's question")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)

    page.goto(desk.url + reverse("mail:continue", args=[continue_token(conversation)]))
    expect(page.get_by_text("ann@example.com")).to_have_count(0)  # the address is masked
    page.get_by_role("button", name="Continue the conversation").click()
    log = page.get_by_role("log")
    expect(log).to_contain_text("It ships Monday.")
    expect(log).to_contain_text("Is my order late?")
    expect(log).not_to_contain_text("Someone else's question")
    assert "#" not in page.url  # the handed-over token does not stay in the address bar
    # And the visitor writes on in the same conversation.
    page.get_by_role("textbox", name="Message").fill("Thanks!")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(log.locator("li.msg[data-seq]").filter(has_text="Thanks!")).to_have_count(1)
    assert conversation.messages.filter(body="Thanks!").exists()


def test_an_agent_emails_the_transcript_of_an_ended_chat_from_its_header(
    desk_factory: Callable[..., Desk], browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    server = desk_factory(SUPPORTDESK_SITE_URL="https://desk.example.com")
    visitor = visitor_create(inbox=inbox)
    visitor.email = "ann@example.com"
    visitor.save(update_fields=["email"])
    conversation = visitor_message_send(
        visitor=visitor, body="Thanks, that was all.", client_id=uuid.uuid4()
    ).message.conversation
    conversation_claim(conversation=conversation, agent=agent)
    conversation_end(conversation=conversation, by=agent)
    dashboard = agent_page(browser, server, "alice", f"/agents/conversations/{conversation.pk}/")
    dashboard.get_by_role("button", name="Email transcript").click()
    expect(dashboard.get_by_role("status").filter(has_text="transcript")).to_have_text(
        "We'll email the transcript to ann@example.com."
    )
    assert OutboundEmail.objects.get(conversation=conversation).to == "ann@example.com"


def test_a_visitor_asks_for_the_transcript_when_the_agent_ends_the_chat(
    desk_factory: Callable[..., Desk], browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    """The end arrives live; the widget's one link asks for an address (the visitor gave none),
    refuses a malformed one in place, then says where the transcript goes."""
    server = desk_factory(SUPPORTDESK_SITE_URL="https://desk.example.com")
    page = new_page(browser)
    chat = open_widget(page, server.url)
    send_as_visitor(chat, "Where is my parcel?")
    expect(chat.locator("li.msg[data-seq]")).to_have_count(1)
    conversation = Conversation.objects.get()
    conversation_claim(conversation=conversation, agent=agent)
    conversation_end(conversation=conversation, by=agent)
    chat.get_by_role("button", name="Email me the transcript").click()
    address = chat.get_by_role("textbox", name="Where should we send the transcript?")
    address.fill("ann@")
    address.press("Enter")
    expect(chat.get_by_role("alert").filter(has_text="email address")).to_be_visible()
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(address).to_have_value("ann@")  # kept, to mend
    screenshot(page, "widget-transcript-asks")
    chat.get_by_role("textbox", name="Where should we send the transcript?").fill("ann@example.com")
    chat.get_by_role("button", name="Send transcript").click()
    expect(chat.get_by_role("status").filter(has_text="transcript")).to_have_text(
        "We'll email the transcript to ann@example.com."
    )
    # The address is the visitor's now: the widget's "so we can reply" line knows it too.
    expect(chat.locator("#email-capture")).not_to_contain_text("so we can reply")
    screenshot(page, "widget-transcript")
    assert OutboundEmail.objects.get(conversation=conversation).to == "ann@example.com"
