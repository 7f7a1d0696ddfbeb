"""Email tests: a real SMTP server (aiosmtpd, in a thread of the test) that the desk's SMTP
backend talks to, and a chat whose agent replied to a visitor who left an address."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent
from chat.models import Conversation, Inbox, Visitor
from chat.services import visitor_profile_set
from mail.outbox import emails_send_due
from mail.services import missed_replies_queue
from tests.agents.helpers import chat, logged_in

SECRET = "inbound-secret-for-tests"
VISITOR_ADDRESS = "vera@example.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """aiosmtpd's handler: keeps every email the server accepted, or refuses recipients."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refuse: str | None = None  # an SMTP reply to RCPT, e.g. "550 no such user"
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(parsed)
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on a port of its own; stop and start it again to take it down for a
    while."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[EmailMessage]:
        with self.recorder.lock:
            return list(self.recorder.received)


@pytest.fixture
def mail_settings(settings: Any) -> Any:
    settings.SUPPORTDESK_SITE_URL = "http://testserver"
    settings.SUPPORTDESK_MAIL_REPLY_ADDRESS = "support@desk.example"
    settings.SUPPORTDESK_MAIL_INBOUND_SECRET = SECRET
    settings.DEFAULT_FROM_EMAIL = "desk@desk.example"
    return settings


@pytest.fixture
def smtp(mail_settings: Any) -> Iterator[SmtpServer]:
    """The desk sends through Django's SMTP backend to a server started here (pytest-django
    would otherwise keep emails in memory)."""
    server = SmtpServer()
    server.start()
    mail_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    mail_settings.EMAIL_HOST = "127.0.0.1"
    mail_settings.EMAIL_PORT = server.port
    mail_settings.EMAIL_HOST_USER = mail_settings.EMAIL_HOST_PASSWORD = ""
    mail_settings.EMAIL_USE_TLS = mail_settings.EMAIL_USE_SSL = False
    mail_settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


def agent_replies(agent: Agent, conversation: Conversation, *bodies: str) -> Client:
    """The agent claims the chat and replies, through the dashboard's own HTTP endpoints."""
    client = logged_in(agent)
    if conversation.status == Conversation.Status.WAITING:
        client.post(reverse("agents:claim", args=[conversation.pk]))
    for body in bodies:
        response = client.post(
            reverse("agents:reply", args=[conversation.pk]),
            {"body": body, "client_id": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.content
    return client


def visitor_chat(visitor: Visitor, body: str = "My order never arrived") -> Conversation:
    visitor_profile_set(visitor=visitor, email=VISITOR_ADDRESS)
    return chat(visitor, body)


def later(minutes: float) -> datetime:
    return timezone.now() + timedelta(minutes=minutes)


@pytest.fixture
def missed(visitor: Visitor, agent: Agent, mail_settings: Any) -> Conversation:
    """A chat whose agent replied twice while the visitor was away (never read)."""
    conversation = visitor_chat(visitor)
    agent_replies(agent, conversation, "Sorry to hear that!", "It ships tomorrow.")
    conversation.refresh_from_db()
    return conversation


def deliver(minutes: float = 6) -> tuple[int, int]:
    """What housekeeping does `minutes` from now: queue the notices that are due, send the
    queue. (queued, sent)."""
    moment = later(minutes)
    return missed_replies_queue(now=moment), emails_send_due(now=moment)


def inbox_of(conversation: Conversation) -> Inbox:
    return Inbox.objects.get(pk=conversation.inbox_id)
