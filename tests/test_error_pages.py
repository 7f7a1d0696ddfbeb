"""The desk's 403, 404 and 500 pages (supportdesk.errors): in the desk's look, saying what
happened and what to do next; a 403 logged as one line, without a traceback; the 500 page
rendered without the request and without the database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory
from django.urls import reverse

from agents.models import Agent
from supportdesk.logs import request_id
from supportdesk.unavailable import server_error


@pytest.mark.django_db
def test_an_agent_without_the_permission_gets_a_branded_403_for_analytics(
    agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    client.force_login(agent.user)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("agents:analytics"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "<title>No access — Supportdesk</title>" in page
    assert "supportdesk/app.css" in page  # the desk's base, not Django's bare page
    assert "You don't have access to this page" in page
    assert "Analytics needs the permission “Can view the analytics of their inboxes”." in page
    assert "ask an admin of this desk" in page
    assert f'href="{reverse("agents:dashboard")}">Back to the dashboard</a>' in page

    # Logged as the ordinary answer it is: one warning, no traceback.
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.status_code == 403  # type: ignore[attr-defined]
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_an_htmx_request_refused_gets_the_card_alone(agent: Agent) -> None:
    client = Client()
    client.force_login(agent.user)
    response = client.get(reverse("agents:analytics"), headers={"HX-Request": "true"})
    assert response.status_code == 403
    card = response.content.decode()
    assert "<html" not in card
    assert card.strip().startswith('<section class="error-card"')
    assert 'role="alert"' in card
    assert "Analytics needs the permission" in card


@pytest.mark.django_db
def test_a_missing_page_is_a_branded_404_that_names_the_address() -> None:
    response = Client().get("/no-such-page/<b>x</b>")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<title>Page not found — Supportdesk</title>" in page
    assert "supportdesk/app.css" in page
    assert "<code>/no-such-page/&lt;b&gt;x&lt;/b&gt;</code>" in page  # escaped
    assert "Back to the dashboard" in page


def test_the_500_page_renders_without_the_database_or_the_request() -> None:
    """No django_db mark: any query here would fail the test."""
    token = request_id.set("req-5c1e")
    try:
        try:
            raise ValueError("a bug")
        except ValueError:
            response = server_error(RequestFactory().get("/agents/"))
    finally:
        request_id.reset(token)
    assert response.status_code == 500
    page = response.content.decode()
    assert "<title>Something went wrong — Supportdesk</title>" in page
    assert "supportdesk/app.css" in page
    assert "Something went wrong on our side" in page
    assert '<code class="error-card__reference">req-5c1e</code>' in page
    assert 'href="/">Back to the dashboard</a>' in page


def test_a_500_page_that_cannot_render_falls_back_to_plain_html(
    settings: Any, tmp_path: Path
) -> None:
    (tmp_path / "500.html").write_text('{% extends "no-such-base.html" %}')
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content


@pytest.mark.django_db
def test_the_admins_analytics_link_shows_only_to_those_it_opens_for(agent: Agent) -> None:
    """As the dashboard's account menu (README, "Analytics"): no link that leads to a 403."""
    agent.user.is_staff = True
    agent.user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(agent.user)
    analytics = f'href="{reverse("agents:analytics")}"'
    assert analytics not in client.get(reverse("admin:index")).content.decode()
    agent.user.user_permissions.add(Permission.objects.get(codename="view_analytics"))
    assert analytics in client.get(reverse("admin:index")).content.decode()
