"""An email address as long as an address may be (320) but longer than the field (254): a clear
refusal on every way in, nothing stored (issue 16: PostgreSQL answered 500, SQLite stored it).
The other free text of the same ways in (the pre-chat form's name, a signed-in user's name and
signature) is held to the same rule: checked where it comes in, never a 500 from the database."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, UsedSignature, Visitor
from chat.tokens import visitor_token
from tests.chat.test_identity import session, signed

pytestmark = pytest.mark.django_db

EMAIL_LIMIT = Visitor._meta.get_field("email").max_length
NAME_LIMIT = Visitor._meta.get_field("name").max_length
OVERLONG = [255, 300, 320]  # valid addresses (RFC 5321 allows 320), longer than the field


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


def post(inbox: Inbox, name: str, visitor: Visitor, data: dict[str, str]):
    return Client().post(
        reverse(f"chat:{name}", args=[inbox.public_key]),
        data,
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )


def test_the_addresses_are_valid_and_as_long_as_said() -> None:
    from django.core.validators import validate_email

    assert EMAIL_LIMIT == 254
    for length in [EMAIL_LIMIT, *OVERLONG]:
        validate_email(address(length))  # Django's validator alone lets all of them through


@pytest.mark.parametrize("length", OVERLONG)
def test_the_email_form_refuses_an_overlong_address(
    visitor: Visitor, inbox: Inbox, length: int
) -> None:
    refused = post(inbox, "widget_email", visitor, {"email": address(length)})
    assert refused.status_code == 422
    assert f"at most {EMAIL_LIMIT} characters" in refused.content.decode()
    assert 'class="form-error" role="alert"' in refused.content.decode()
    visitor.refresh_from_db()
    assert visitor.email == ""


@pytest.mark.parametrize("length", OVERLONG)
def test_the_pre_chat_form_refuses_an_overlong_address(
    visitor: Visitor, inbox: Inbox, length: int
) -> None:
    refused = post(inbox, "widget_profile", visitor, {"name": "Ann", "email": address(length)})
    assert refused.status_code == 422
    assert refused.json()["error"] == "too_long"
    assert f"at most {EMAIL_LIMIT} characters" in refused.json()["message"]
    visitor.refresh_from_db()
    assert (visitor.email, visitor.name) == ("", "")


@pytest.mark.parametrize("length", OVERLONG)
def test_a_signed_in_users_overlong_address_is_rejected(inbox: Inbox, length: int) -> None:
    email = address(length)
    # The session endpoint's answer to a bad address: still 200, anonymous, the reason said.
    answer = session(Client(), inbox, signed(inbox, email=email))
    assert (answer["identity"], answer["identity_error"]) == ("rejected", "bad_email")
    assert Visitor.objects.get(pk=answer["visitor"]).external_id == ""
    assert email not in [v.email for v in Visitor.objects.all()]  # may be encrypted: in Python
    assert not UsedSignature.objects.exists()


def test_an_address_of_254_characters_is_stored_on_every_way_in(
    visitor: Visitor, visitor_b: Visitor, inbox: Inbox
) -> None:
    email = address(EMAIL_LIMIT)
    assert post(inbox, "widget_email", visitor, {"email": email}).status_code == 200
    visitor.refresh_from_db()
    assert visitor.email == email
    saved = post(inbox, "widget_profile", visitor_b, {"name": "Bo", "email": email})
    assert saved.status_code == 204
    visitor_b.refresh_from_db()
    assert (visitor_b.name, visitor_b.email) == ("Bo", email)
    answer = session(Client(), inbox, signed(inbox, user_id="7", email=email))
    assert answer["identity"] == "verified"
    assert Visitor.objects.get(pk=answer["visitor"]).email == email


def test_the_pre_chat_form_refuses_an_overlong_name(visitor: Visitor, inbox: Inbox) -> None:
    form = {"name": "n" * (NAME_LIMIT + 1), "email": "ann@example.com"}
    refused = post(inbox, "widget_profile", visitor, form)
    assert refused.status_code == 422
    assert refused.json() == {
        "error": "too_long",
        "message": f"A name can be at most {NAME_LIMIT} characters; this one has {NAME_LIMIT + 1}.",
    }
    visitor.refresh_from_db()
    assert (visitor.email, visitor.name) == ("", "")
    # As long as the field, once the spaces and NULs that are never stored are gone: stored.
    form = {"name": f"  {'n' * NAME_LIMIT}\x00 ", "email": "ann@example.com"}
    assert post(inbox, "widget_profile", visitor, form).status_code == 204
    visitor.refresh_from_db()
    assert (visitor.email, visitor.name) == ("ann@example.com", "n" * NAME_LIMIT)


def test_a_signed_in_users_long_name_is_cut_to_the_field(inbox: Inbox) -> None:
    # The name is not signed: a long one does not cost the user their sign-in, it is cut.
    answer = session(Client(), inbox, {**signed(inbox), "name": "n" * 1000})
    assert answer["identity"] == "verified"
    assert Visitor.objects.get(pk=answer["visitor"]).name == "n" * NAME_LIMIT


@pytest.mark.parametrize(
    "signature",
    ["é" * 64, "ä", "0" * 63 + "ü", "0" * 65, "0" * 200, "\u0130" * 64],
    ids=["non-ascii", "short-non-ascii", "last-non-ascii", "65-hex", "200-hex", "dotted-I"],
)
def test_a_signature_that_is_no_hex_digest_is_a_bad_signature(inbox: Inbox, signature: str) -> None:
    # hmac.compare_digest raises TypeError for non-ASCII text: that was a 500.
    answer = session(Client(), inbox, {**signed(inbox), "signature": signature})
    assert (answer["identity"], answer["identity_error"]) == ("rejected", "bad_signature")
    assert not Visitor.objects.filter(external_id="42").exists()
    assert not UsedSignature.objects.exists()
