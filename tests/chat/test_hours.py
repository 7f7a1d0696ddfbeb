"""Business hours: open or closed at a given moment, and when an inbox opens next."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from chat.hours import availability, is_open, next_opening
from chat.models import Inbox, Visitor
from chat.tokens import visitor_token

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def office(inbox: Inbox) -> Inbox:
    """Monday to Friday, 09:00 to 17:00, Berlin time."""
    inbox.time_zone = "Europe/Berlin"
    inbox.opens_at, inbox.closes_at, inbox.open_days = time(9), time(17), "12345"
    inbox.save()
    return inbox


@pytest.mark.parametrize(
    ("moment", "open_now", "opens"),
    [
        (datetime(2026, 11, 27, 10, 0, tzinfo=BERLIN), True, None),  # Friday morning
        (datetime(2026, 11, 27, 17, 0, tzinfo=BERLIN), False, datetime(2026, 11, 30, 9, 0)),
        (datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN), False, datetime(2026, 11, 30, 9, 0)),
        (datetime(2026, 11, 30, 8, 59, tzinfo=BERLIN), False, datetime(2026, 11, 30, 9, 0)),
        # 07:30 UTC is 08:30 in Berlin: closed, opening the same day.
        (datetime(2026, 11, 30, 7, 30, tzinfo=ZoneInfo("UTC")), False, datetime(2026, 11, 30, 9)),
    ],
)
def test_open_and_next_opening_in_the_inboxes_time_zone(
    office: Inbox, moment: datetime, open_now: bool, opens: datetime | None
) -> None:
    assert is_open(office, moment) is open_now
    expected = opens.replace(tzinfo=BERLIN) if opens else None
    assert next_opening(office, moment) == expected


def test_an_inbox_without_hours_is_always_open(inbox: Inbox) -> None:
    assert is_open(inbox)
    assert next_opening(inbox) is None
    assert availability(inbox, agent_online=False) == {
        "online": False,
        "closed": False,
        "opens_at": None,
        "time_zone": "UTC",
    }


def test_a_visitor_leaves_an_email_for_the_reply(visitor: Visitor) -> None:
    url = reverse("chat:widget_email", args=[visitor.inbox.public_key])
    headers = {"X-Visitor-Token": visitor_token(visitor)}
    refused = Client().post(url, {"email": "not an address"}, headers=headers)
    assert refused.status_code == 422
    assert "valid email" in refused.content.decode()
    assert Client().post(url, {"email": "ann@example.com"}).status_code == 401
    saved = Client().post(url, {"email": " ann@example.com "}, headers=headers)
    assert saved.status_code == 200
    assert "We'll reply to you at <bdi>ann@example.com</bdi>." in saved.content.decode()
    visitor.refresh_from_db()
    assert visitor.email == "ann@example.com"


def test_the_pre_chat_form_stores_name_and_email(visitor: Visitor) -> None:
    url = reverse("chat:widget_profile", args=[visitor.inbox.public_key])
    headers = {"X-Visitor-Token": visitor_token(visitor)}
    refused = Client().post(url, {"name": "Ann", "email": ""}, headers=headers)
    assert refused.status_code == 422
    assert Client().post(url, {"name": "Ann", "email": "a@b.co"}).status_code == 401
    ok = Client().post(url, {"name": "  Ann Lee ", "email": "ann@example.com"}, headers=headers)
    assert ok.status_code == 204
    visitor.refresh_from_db()
    assert (visitor.name, visitor.email, visitor.display_name) == (
        "Ann Lee",
        "ann@example.com",
        "Ann Lee",
    )


def test_widgets_hear_when_an_inbox_opens_or_closes(office: Inbox) -> None:
    from agents.presence import publish_opening_changes

    friday_morning = datetime(2026, 11, 27, 10, 0, tzinfo=BERLIN)
    friday_evening = datetime(2026, 11, 27, 17, 1, tzinfo=BERLIN)
    publish_opening_changes(friday_morning)  # first look: nothing to compare with
    assert publish_opening_changes(friday_morning) == []
    assert publish_opening_changes(friday_evening) == [office.pk]  # it closed
    assert publish_opening_changes(friday_evening) == []
