"""Missed chats: an agent who opted in gets an email when a chat waited in their inbox for the
inbox's minutes while nobody was online; once per chat."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents.models import Agent
from chat.models import Visitor
from mail.models import AgentMailSettings, InboxMailSettings
from mail.outbox import emails_send_due
from mail.services import missed_chats_queue
from tests.agents.helpers import connect, logged_in
from tests.mail.conftest import later, visitor_chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def wants_email(agent: Agent) -> Agent:
    agent.user.email = "alice@desk.example"
    agent.user.save(update_fields=["email"])
    AgentMailSettings.objects.create(agent=agent, missed_chats=True)
    return agent


def test_an_agent_who_asked_gets_one_email_about_a_chat_nobody_took(
    wants_email: Agent, visitor: Visitor, smtp
) -> None:
    conversation = visitor_chat(visitor, "Is anyone there?")
    assert missed_chats_queue(now=later(4)) == 0  # not yet
    assert missed_chats_queue(now=later(6)) == 1
    assert missed_chats_queue(now=later(9)) == 0  # once
    assert emails_send_due() == 1
    [sent] = smtp.received
    assert sent["To"] == "alice@desk.example"
    assert sent["Subject"] == "A chat is waiting in Acme support"
    assert sent["List-Unsubscribe"] is None  # an agent's notice: their settings page instead
    text = sent.get_body(preferencelist=("plain",)).get_content()
    assert "Is anyone there?" in text
    assert f"http://testserver/agents/conversations/{conversation.pk}/" in text
    assert "http://testserver/mail/settings/" in text


def test_no_email_while_someone_is_online(
    wants_email: Agent, visitor: Visitor, second_agent, mail_settings
) -> None:
    connect(second_agent)  # a dashboard open in the inbox
    visitor_chat(visitor)
    assert missed_chats_queue(now=later(6)) == 0


def test_no_email_without_opting_in_or_for_another_inbox(
    agent: Agent, outsider_agent: Agent, visitor: Visitor, mail_settings
) -> None:
    for someone in (agent, outsider_agent):
        someone.user.email = f"{someone.user.username}@desk.example"
        someone.user.save(update_fields=["email"])
    AgentMailSettings.objects.create(agent=outsider_agent, missed_chats=True)
    visitor_chat(visitor)
    assert missed_chats_queue(now=later(60)) == 0


def test_the_inboxs_minutes_apply(wants_email: Agent, visitor: Visitor, mail_settings) -> None:
    visitor_chat(visitor)
    InboxMailSettings.objects.create(inbox=inbox_of_visitor(visitor), missed_chat_minutes=30)
    assert missed_chats_queue(now=later(10)) == 0
    assert missed_chats_queue(now=later(31)) == 1


def inbox_of_visitor(visitor: Visitor):
    return visitor.inbox


def test_an_agent_opts_in_on_their_settings_page(agent: Agent, mail_settings) -> None:
    client = logged_in(agent)
    dashboard = client.get(reverse("agents:dashboard")).text
    assert f'href="{reverse("mail:settings")}">Email settings</a>' in dashboard  # account menu
    page = client.get(reverse("mail:settings"))
    assert page.status_code == 200
    assert "no email address" in page.text
    assert client.post(reverse("mail:settings"), {"missed_chats": "on"}).status_code == 302
    assert AgentMailSettings.objects.get(agent=agent).missed_chats
    assert "checked" in client.get(reverse("mail:settings")).text
    client.post(reverse("mail:settings"), {})
    assert not AgentMailSettings.objects.get(agent=agent).missed_chats
