"""Template syntax that Django would print instead of run: a `{# … #}` comment spans one line
only, so one broken over lines shows on the page as text."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from chat.models import Inbox, Visitor
from chat.services import visitor_message_send


@pytest.mark.django_db
def test_no_page_shows_template_syntax(agent: Agent, inbox: Inbox) -> None:
    staff = Client()
    staff.force_login(agent.user)
    visitor = Visitor.objects.create(inbox=inbox)
    conversation = visitor_message_send(visitor=visitor, body="hi", client_id=uuid.uuid4())
    conversation = conversation.message.conversation
    pages = {
        "login": Client().get(reverse("login")),
        "dashboard": staff.get(reverse("agents:dashboard")),
        "saved replies": staff.get(reverse("agents:replies")),
        "widget": Client().get(reverse("chat:widget_page", args=[inbox.public_key])),
        "demo": Client().get(reverse("chat:demo")),
        "widget.js": Client().get(reverse("chat:widget_script")),
        "open chat": staff.get(reverse("agents:conversation", args=[conversation.pk])),
        "open chat (htmx)": staff.get(
            reverse("agents:conversation", args=[conversation.pk]), headers={"HX-Request": "true"}
        ),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = response.content.decode()
        # widget.js is code, where "}}" closes two blocks: look for comments and tags there.
        syntax = (
            ("{#", "#}", "{%", "%}")
            if name == "widget.js"
            else ("{#", "#}", "{%", "%}", "{{", "}}")
        )
        for mark in syntax:
            assert mark not in text, f"{name} shows {mark!r}"
