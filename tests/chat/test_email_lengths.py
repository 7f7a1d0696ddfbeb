"""An email address as long as an address may be (320) but longer than the field (254): a clear
refusal on every way in, nothing stored (issue 16: PostgreSQL answered 500, SQLite stored it)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, Visitor
from chat.tokens import visitor_token
from tests.chat.test_identity import session, signed


def address(length: int) -> str:
    """A valid address of `length` characters: a 64-character local part, labels of ≤ 63."""
    local = "a" * 64
    domain_length = length - len(local) - 1
    labels, left = [], domain_length - len(".com")
    while left > 0:
        label = min(63, left - 1 if left > 64 else left)
        labels.append("b" * label)
        left -= label + 1
    email = f"{local}@{'.'.join(labels)}.com"
    assert len(email) == length, (len(email), length)
    return email


@pytest.mark.parametrize("length", [255, 300, 320])
def test_an_overlong_address_is_refused_everywhere_and_nothing_is_stored(
    visitor: Visitor, inbox: Inbox, length: int
) -> None:
    headers = {"X-Visitor-Token": visitor_token(visitor)}
    email = address(length)
    refused = Client().post(
        reverse("chat:widget_email", args=[inbox.public_key]), {"email": email}, headers=headers
    )
    assert refused.status_code == 422
    assert "at most 254 characters" in refused.content.decode()
    profile = Client().post(
        reverse("chat:widget_profile", args=[inbox.public_key]),
        {"name": "Ann", "email": email},
        headers=headers,
    )
    assert profile.status_code == 422
    assert "at most 254 characters" in profile.json()["message"]
    visitor.refresh_from_db()
    assert (visitor.email, visitor.name) == ("", "")
    # A signed-in user's address (verified identity): rejected, anonymous, no 500.
    answer = session(Client(), inbox, signed(inbox, email=email))
    assert (answer["identity"], answer["identity_error"]) == ("rejected", "bad_email")
    assert not Visitor.objects.filter(email=email).exists()


def test_an_address_of_254_characters_is_stored(visitor: Visitor, inbox: Inbox) -> None:
    email = address(254)
    headers = {"X-Visitor-Token": visitor_token(visitor)}
    saved = Client().post(
        reverse("chat:widget_email", args=[inbox.public_key]), {"email": email}, headers=headers
    )
    assert saved.status_code == 200
    visitor.refresh_from_db()
    assert visitor.email == email
