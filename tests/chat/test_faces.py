"""Faces (chat.faces): initials and colours, the reply time said only from real data, the
logo and agents' faces served from the storage to the widget, and the avatar template tag."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from agents.models import Agent
from chat.contrast import contrast_ratio, rgb
from chat.faces import (
    PALETTE,
    face_colour,
    initials,
    reply_time_text,
    reply_times_forget,
    typical_reply_seconds,
)
from chat.models import Conversation, Inbox, Visitor

pytestmark = pytest.mark.django_db


def png() -> ContentFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "#f08c00").save(buffer, "PNG")
    return ContentFile(buffer.getvalue())


def test_initials_and_a_stable_readable_colour_per_name() -> None:
    assert initials("Alice Martin") == "AM"
    assert initials("bob") == "B"
    assert initials("Jean-Luc de la Tour") == "JT"
    assert initials("\u202e") == "?"
    assert face_colour("Alice") == face_colour(" alice ")
    assert len({face_colour(name) for name in ("Alice", "Bob", "Carol", "Dan", "Erin")}) > 2
    for colour in PALETTE:
        assert contrast_ratio(rgb(colour), rgb("#ffffff")) >= 4.5, colour


def test_the_stylesheet_has_the_same_colours_as_the_palette() -> None:
    css = (Path(settings.BASE_DIR) / "static/supportdesk/app.css").read_text()
    for n, colour in enumerate(PALETTE):
        assert re.search(rf"\.face--c{n} \{{ background: {colour}; \}}", css), (n, colour)


def test_the_avatar_tag_is_a_photo_or_initials_without_style_attributes() -> None:
    template = Template('{% load faces %}{% avatar name url %}|{% avatar name "" "lg" True %}')
    html = template.render(Context({"name": "Alice <b>", "url": "faces/3"}))
    photo, initial = html.split("|")
    assert photo == '<img class="face face--md face--photo" src="faces/3" alt="" loading="lazy">'
    assert f"face--c{face_colour('Alice <b>')}" in initial
    assert 'aria-label="Alice &lt;b&gt;"' in initial
    assert "style=" not in html


def answered(inbox: Inbox, minutes: list[float], *, days_ago: float = 1) -> None:
    for wait in minutes:
        visitor = Visitor.objects.create(inbox=inbox)
        now = timezone.now()
        conversation = Conversation.objects.create(
            inbox=inbox, visitor=visitor, status="ended", ended_at=now
        )
        started = now - timedelta(days=days_ago)
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=started, first_response_at=started + timedelta(minutes=wait)
        )


def test_the_reply_time_is_the_recent_median_and_nothing_without_data(inbox: Inbox) -> None:
    reply_times_forget()
    answered(inbox, [1, 2])  # too few to say anything honest
    answered(inbox, [90, 90, 90], days_ago=30)  # too old to count
    assert typical_reply_seconds(inbox.pk) is None
    assert reply_time_text(None) == ""
    page = Client().get(reverse("chat:widget_page", args=[inbox.public_key])).content.decode()
    assert "Typically replies" not in page

    reply_times_forget()
    answered(inbox, [30, 40, 50])
    assert typical_reply_seconds(inbox.pk) == 30 * 60  # the median of 1, 2, 30, 40, 50
    assert reply_time_text(30 * 60) == "Typically replies in about 30 minutes"
    assert reply_time_text(20) == "Typically replies in under a minute"
    assert reply_time_text(3 * 60) == "Typically replies in a few minutes"
    assert reply_time_text(3 * 3600) == "Typically replies in about 3 hours"
    page = Client().get(reverse("chat:widget_page", args=[inbox.public_key])).content.decode()
    assert "Typically replies in about 30 minutes" in page
    reply_times_forget()


def test_the_logo_is_served_from_the_storage_with_safe_headers(inbox: Inbox) -> None:
    url = reverse("chat:inbox_logo", args=[inbox.public_key])
    assert Client().get(url).status_code == 404  # none uploaded
    inbox.logo.save("acme.png", png())
    response = Client().get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    page = Client().get(reverse("chat:widget_page", args=[inbox.public_key])).content.decode()
    assert re.search(r'<img class="msg__avatar face face--photo" src="logo\?v=\w+"', page)


def test_an_agents_face_is_their_photo_or_initials_and_only_in_their_inboxes(
    inbox: Inbox, agent: Agent, outsider_agent: Agent, admin_agent: Agent
) -> None:
    def face(agent_id: int) -> tuple[int, str, bytes]:
        response = Client().get(reverse("chat:agent_face", args=[inbox.public_key, agent_id]))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, response.get("Content-Type", ""), body

    status, kind, body = face(agent.pk)
    assert (status, kind) == (200, "image/svg+xml")
    assert b">A</text>" in body
    assert PALETTE[face_colour("Alice")].encode() in body
    agent.avatar.save("alice.png", png())
    status, kind, body = face(agent.pk)
    assert (status, kind) == (200, "image/png")
    assert body.startswith(b"\x89PNG")
    assert face(outsider_agent.pk)[0] == 404  # another inbox's agent: nothing to see here
    assert face(admin_agent.pk)[0] == 200  # an admin may take any chat


def test_the_widget_page_loads_with_the_cache_down(inbox: Inbox, cache_down: None) -> None:
    """The reply time is remembered by the process, not the cache: a cache outage costs the
    widget nothing (it once made the page a 500)."""
    reply_times_forget()
    answered(inbox, [30, 40, 50])
    response = Client().get(reverse("chat:widget_page", args=[inbox.public_key]))
    assert response.status_code == 200
    assert "Typically replies in about 40 minutes" in response.content.decode()
    reply_times_forget()
