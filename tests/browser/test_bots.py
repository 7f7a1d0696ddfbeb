"""The inbox's bot, as the issue tells it (issue 19, item 5): a bot answers the first message,
the visitor asks for a human, the chat joins the queue, an agent claims it and sees the bot's
earlier messages. In a real browser, live on both sides."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Browser, expect

from agents.models import Agent
from api.services import api_token_create
from bots.models import Bot, BotRule
from chat.models import Conversation, Inbox
from tests.browser.conftest import Desk
from tests.browser.pages import (
    agent_page,
    new_page,
    open_widget,
    screenshot,
    send_as_visitor,
    tab_count,
)
from webhooks import signing
from webhooks.models import Event, WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_bot_answers_the_visitor_asks_for_a_person_and_an_agent_claims_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    bot = Bot.objects.create(inbox=inbox, name="Robo")
    BotRule.objects.create(
        bot=bot,
        keywords="price, cost",
        answer="Plans start at 10 € a month.",
        quick_replies="Is there a free trial?",
    )
    alice = agent_page(browser, desk, "alice")

    visitor = new_page(browser, viewport={"width": 900, "height": 760})
    chat = open_widget(visitor, desk.url)
    send_as_visitor(chat, "What does it cost?")

    # The bot answers the first message, named and marked, with buttons to answer it.
    answer = chat.locator("li.msg--bot")
    expect(answer).to_contain_text("Plans start at 10 € a month.")
    expect(answer.locator(".msg__author")).to_contain_text("Robo")
    expect(answer.locator(".msg__bot-mark")).to_have_text("Bot")
    trial = chat.get_by_role("button", name="Is there a free trial?")
    person = chat.get_by_role("button", name="Talk to a person")
    expect(trial).to_be_visible()
    expect(person).to_be_visible()
    expect(chat.locator(".chat-state[data-status]")).to_contain_text(
        "You're chatting with our assistant."
    )
    expect(chat.locator(".chat-state[data-status]")).not_to_contain_text("ended")
    screenshot(visitor, "bot-widget-quick-replies")

    # On the dashboard, live: listed "With the bot", nobody's to answer yet.
    expect(alice.locator("#list-bot .row")).to_have_count(1)
    expect(tab_count(alice, "waiting")).to_have_text("0")

    # The visitor asks for a person, by keyboard: the button sends its text as their message.
    person.focus()
    person.press("Enter")
    log = chat.get_by_role("log")
    expect(log).to_contain_text("You asked for a person: someone from the team will join shortly.")
    expect(chat.locator("li.msg--visitor", has_text="Talk to a person")).to_have_count(1)
    expect(chat.locator(".quick-replies__button")).to_have_count(2)  # in the page, but hidden
    expect(person).to_be_hidden()
    expect(chat.locator(".chat-state[data-status]")).to_contain_text("Waiting for an agent")

    # The chat joins the queue: on Alice's dashboard under Waiting, live.
    expect(tab_count(alice, "waiting")).to_have_text("1")
    expect(alice.locator("#list-waiting .row")).to_have_count(1)
    expect(alice.locator("#list-bot .row")).to_have_count(0)

    # Alice opens it and sees the bot's part, then claims it.
    alice.locator("#list-waiting .row__link").click()
    pane_log = alice.get_by_role("log")
    expect(pane_log).to_contain_text("What does it cost?")
    expect(pane_log).to_contain_text("Plans start at 10 € a month.")
    expect(pane_log.locator(".msg--bot .msg__author")).to_contain_text("Robo")
    expect(pane_log).to_contain_text("You asked for a person")
    screenshot(alice, "bot-dashboard-handover")
    alice.get_by_role("button", name="Claim").click()
    expect(alice.locator(".pane__header .badge")).to_have_text(re.compile("Active"))
    expect(log).to_contain_text("Alice joined the chat.")
    expect(chat.locator(".chat-state[data-status]")).to_contain_text("You're chatting with Alice.")
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.assigned_agent) == ("active", agent)
    assert conversation.first_response_at is None  # the bot's answers are no person's


class BotService:
    """A webhook bot's own service, as a customer would write one: an HTTP server that checks
    each `bot.turn` delivery's signature and answers through the desk's API with the bot's
    token, after acknowledging the delivery (docs/API.md, "Bots")."""

    def __init__(self, desk_url: str, token: str) -> None:
        self.desk_url = desk_url
        self.token = token
        self.secret = ""
        self.turns: list[dict] = []
        self.answered = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bot"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ok = signing.verify(
                    secret=service.secret,
                    body=body,
                    timestamp=self.headers.get(signing.TIMESTAMP_HEADER, ""),
                    signature_header=self.headers.get(signing.SIGNATURE_HEADER, ""),
                )
                self.send_response(200 if ok else 401)
                self.end_headers()
                if ok:
                    threading.Thread(target=service.answer, args=(json.loads(body),)).start()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def answer(self, turn: dict) -> None:
        self.turns.append(turn)
        conversation = turn["conversation_id"]
        response = httpx.post(
            f"{self.desk_url}/api/v1/bot/conversations/{conversation}/messages/",
            headers={"Authorization": f"Bearer {self.token}"},
            json={
                "body": "We ship worldwide within 3 days.",
                "quick_replies": ["What does it cost?"],
                "client_id": str(uuid.uuid5(uuid.NAMESPACE_URL, turn["id"])),  # once per turn
            },
            timeout=10,
        )
        assert response.status_code in (200, 201), response.text
        self.answered.set()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_bot_answers_through_the_api_and_hands_over_to_an_agent(
    desk_factory: Callable[..., Desk], browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    """The issue's story with a bot of the customer's own: the desk posts the visitor's first
    message to the bot's service, its answer comes back through the API and shows in the
    widget; the visitor asks for a person; an agent claims the chat and sees the bot's part."""
    served = desk_factory(SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE="1")
    bot = Bot.objects.create(inbox=inbox, kind=Bot.Kind.WEBHOOK, name="ShipBot")
    token = api_token_create(bot=bot, name="bot service", scopes=["write"]).plaintext
    service = BotService(served.url, token)
    endpoint = WebhookEndpoint.objects.create(
        inbox=inbox, url=service.url, events=[Event.BOT_TURN], allow_private_network=True
    )
    service.secret = endpoint.secret
    try:
        alice = agent_page(browser, served, "alice")
        visitor = new_page(browser, viewport={"width": 900, "height": 760})
        chat = open_widget(visitor, served.url)
        send_as_visitor(chat, "Do you ship to Norway?")

        answer = chat.locator("li.msg--bot")
        expect(answer).to_contain_text("We ship worldwide within 3 days.")
        expect(answer.locator(".msg__author")).to_contain_text("ShipBot")
        expect(chat.get_by_role("button", name="What does it cost?")).to_be_visible()
        assert service.answered.is_set()
        assert [t["data"]["message"]["body"] for t in service.turns] == ["Do you ship to Norway?"]
        expect(alice.locator("#list-bot .row")).to_have_count(1)
        screenshot(visitor, "webhook-bot-widget")

        chat.get_by_role("button", name="Talk to a person").click()
        expect(chat.get_by_role("log")).to_contain_text("You asked for a person")
        expect(alice.locator("#list-waiting .row")).to_have_count(1)
        alice.locator("#list-waiting .row__link").click()
        pane_log = alice.get_by_role("log")
        expect(pane_log).to_contain_text("We ship worldwide within 3 days.")
        expect(pane_log.locator(".msg--bot .msg__author")).to_contain_text("ShipBot")
        alice.get_by_role("button", name="Claim").click()
        expect(chat.get_by_role("log")).to_contain_text("Alice joined the chat.")
        assert len(service.turns) == 1  # the request for a person never went to the bot
        conversation = Conversation.objects.get()
        assert (conversation.status, conversation.assigned_agent) == ("active", agent)
        bot_messages = conversation.messages.filter(sender_kind="bot")
        assert list(bot_messages.values_list("body", flat=True)) == [
            "We ship worldwide within 3 days."
        ]
    finally:
        service.stop()
