"""Internal notes (note_create and its view): seen by agents, redacted for the visitor."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Activity, Agent
from agents.services import note_create
from chat.models import Visitor
from chat.payloads import chat_message_event, for_visitor
from chat.tokens import visitor_token
from tests.agents.helpers import chat, logged_in

pytestmark = pytest.mark.django_db


def test_a_note_reaches_agents_but_the_visitor_gets_only_its_seq(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    note = note_create(
        conversation=conversation, agent=agent, body="card declined twice", client_id=uuid.uuid4()
    ).message
    event = chat_message_event(note)
    assert event["message"]["body"] == "card declined twice"
    assert event["message"]["author_name"] == "Alice"
    redacted = for_visitor(event)
    assert redacted["message"]["body"] == ""
    assert redacted["conversation"]["preview"] == ""
    assert redacted["message"]["seq"] == note.seq
    widget = Client().get(
        reverse("chat:widget_conversation", args=[visitor.inbox.public_key]),
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    html = widget.content.decode()
    assert "card declined" not in html
    assert f'id="msg-{conversation.pk}-{note.seq}"' in html  # the placeholder keeps the seq
    dashboard = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert "card declined twice" in dashboard.content.decode()
    assert Activity.objects.filter(verb=Activity.Verb.NOTE, actor=agent).count() == 1


def test_the_note_view_stores_a_note_idempotently(visitor: Visitor, agent: Agent) -> None:
    conversation = chat(visitor)
    client = logged_in(agent)
    data = {"body": "check the order id", "client_id": str(uuid.uuid4())}
    url = reverse("agents:note", args=[conversation.pk])
    assert client.post(url, data).status_code == 201
    assert client.post(url, data).status_code == 200
    assert conversation.messages.filter(sender_kind="note").count() == 1
