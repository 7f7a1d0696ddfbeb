"""Template syntax that Django would print instead of run: a `{# … #}` comment spans one line
only, so one broken over lines shows on the page as text."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from chat.models import Inbox


@pytest.mark.django_db
def test_no_page_shows_template_syntax(agent: Agent, inbox: Inbox) -> None:
    staff = Client()
    staff.force_login(agent.user)
    pages = {
        "login": Client().get(reverse("login")),
        "dashboard": staff.get(reverse("agents:dashboard")),
        "saved replies": staff.get(reverse("agents:replies")),
        "widget": Client().get(reverse("chat:widget_page", args=[inbox.public_key])),
        "demo": Client().get(reverse("chat:demo")),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        for syntax in ("{#", "#}", "{%", "%}", "{{", "}}"):
            assert syntax not in html, f"{name} shows {syntax!r}"
