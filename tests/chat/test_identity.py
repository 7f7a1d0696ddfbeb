"""Identity verification: signed claims only, within a time window, once, and the same visitor on
every device; unverified claims change nothing."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from agents.housekeeping import housekeeping
from chat.identity import IdentityRejected, identity_signature, identity_verify
from chat.models import Conversation, Inbox, Message, UsedSignature, Visitor
from chat.tokens import visitor_token
from supportdesk import ratelimit
from tests.chat.test_views import post_message, widget_url

pytestmark = pytest.mark.django_db


def signed(inbox: Inbox, user_id: str = "42", email: str = "ann@example.com", **extra) -> dict:
    timestamp = extra.pop("timestamp", int(time.time()))
    return {
        "user_id": user_id,
        "email": email,
        "name": "Ann",
        "timestamp": str(timestamp),
        "signature": identity_signature(
            extra.pop("secret", inbox.identity_secret),
            user_id=user_id,
            email=email,
            timestamp=timestamp,
        ),
        **extra,
    }


def session(client: Client, inbox: Inbox, claims: dict | None = None, token: str = "") -> dict:
    headers = {"X-Visitor-Token": token} if token else {}
    response = client.post(widget_url("widget_session", inbox), claims or {}, headers=headers)
    assert response.status_code == 200
    return response.json()


def test_only_a_fresh_correct_signature_is_accepted(inbox: Inbox, other_inbox: Inbox) -> None:
    assert identity_verify(inbox, signed(inbox)).user_id == "42"
    cases = {
        "bad_signature": [
            signed(inbox, secret=other_inbox.identity_secret),  # another inbox's secret
            {**signed(inbox), "user_id": "43"},  # someone else's id under Ann's signature
            {**signed(inbox), "email": "boss@example.com"},
            {**signed(inbox), "timestamp": str(int(time.time()) - 1)},
            {**signed(inbox), "signature": ""},
        ],
        "expired": [
            signed(inbox, timestamp=int(time.time()) - 601),  # older than the 600 s window
            signed(inbox, timestamp=int(time.time()) + 3600),  # from the future
        ],
        "bad_user_id": [signed(inbox, user_id=""), signed(inbox, user_id="4\n2")],
        "bad_timestamp": [{**signed(inbox), "timestamp": "yesterday"}],
        "bad_email": [signed(inbox, email="not an address")],
    }
    for reason, claims_list in cases.items():
        for claims in claims_list:
            with pytest.raises(IdentityRejected) as refused:
                identity_verify(inbox, claims)
            assert refused.value.reason == reason, claims


def test_no_two_different_claims_sign_the_same_text(inbox: Inbox) -> None:
    # With "." as the separator these two would collide; with newlines they cannot.
    a = identity_signature("k", user_id="1.2", email="x@example.com", timestamp=1)
    b = identity_signature("k", user_id="1", email="2.x@example.com", timestamp=1)
    assert a != b


def test_a_verified_user_is_the_same_visitor_on_every_device(client: Client, inbox: Inbox) -> None:
    laptop = session(client, inbox, signed(inbox))
    assert laptop["identity"] == "verified"
    visitor = Visitor.objects.get(pk=laptop["visitor"])
    assert (visitor.external_id, visitor.email, visitor.name) == ("42", "ann@example.com", "Ann")
    assert visitor.identity_verified_at is not None
    post_message(client, inbox, laptop["token"], "from my laptop", str(uuid.uuid4()))

    time.sleep(1)  # the phone's page was rendered later: another timestamp, another signature
    phone = session(client, inbox, signed(inbox))
    assert phone["identity"] == "verified"
    assert phone["visitor"] == visitor.pk
    log = client.get(
        widget_url("widget_conversation", inbox), headers={"X-Visitor-Token": phone["token"]}
    )
    assert "from my laptop" in log.text


def test_a_copied_signature_cannot_be_replayed_on_another_device(
    client: Client, inbox: Inbox
) -> None:
    claims = signed(inbox)
    owner = session(client, inbox, claims)
    assert owner["identity"] == "verified"
    # The same browser presenting it again (a reload of a cached page) is still that user.
    again = session(client, inbox, claims, token=owner["token"])
    assert (again["identity"], again["visitor"]) == ("verified", owner["visitor"])
    # Anyone else who copied it off the page gets an anonymous visitor of their own.
    thief = session(client, inbox, claims)
    assert (thief["identity"], thief["identity_error"]) == ("rejected", "replayed")
    assert thief["visitor"] != owner["visitor"]
    assert Visitor.objects.get(pk=thief["visitor"]).external_id == ""


def test_unverified_claims_change_nothing(client: Client, inbox: Inbox, visitor: Visitor) -> None:
    forged = {**signed(inbox, user_id="7", email="ceo@example.com"), "signature": "0" * 64}
    answer = session(client, inbox, forged, token=visitor_token(visitor))
    assert (answer["identity"], answer["identity_error"]) == ("rejected", "bad_signature")
    assert answer["visitor"] == visitor.pk
    visitor.refresh_from_db()
    assert (visitor.external_id, visitor.email) == ("", "")
    assert not Visitor.objects.filter(external_id="7").exists()


def test_signing_in_keeps_what_the_anonymous_visitor_wrote(client: Client, inbox: Inbox) -> None:
    # Ann chats on her laptop, signed in; the chat is still open.
    laptop = session(client, inbox, signed(inbox))
    post_message(client, inbox, laptop["token"], "signed in on the laptop", str(uuid.uuid4()))
    # On her phone she first writes anonymously, then signs in.
    anonymous = session(client, inbox)
    post_message(client, inbox, anonymous["token"], "before signing in", str(uuid.uuid4()))
    time.sleep(1)
    phone = session(client, inbox, signed(inbox), token=anonymous["token"])
    assert phone["visitor"] == laptop["visitor"]
    conversations = Conversation.objects.filter(visitor_id=laptop["visitor"]).order_by("pk")
    assert [c.status for c in conversations] == ["waiting", "ended"]  # one open per visitor
    bodies = set(
        Message.objects.filter(conversation__in=conversations).values_list("body", flat=True)
    )
    assert {"signed in on the laptop", "before signing in"} <= bodies
    assert "The visitor signed in; the chat continues in their account." in bodies
    assert not Conversation.objects.filter(visitor_id=anonymous["visitor"]).exists()


def test_another_user_signing_in_on_the_same_computer_gets_their_own_visitor(
    client: Client, inbox: Inbox
) -> None:
    ann = session(client, inbox, signed(inbox))
    post_message(client, inbox, ann["token"], "Ann's question", str(uuid.uuid4()))
    bob = session(client, inbox, signed(inbox, user_id="99", email="bob@example.com"), ann["token"])
    assert bob["identity"] == "verified"
    assert bob["visitor"] != ann["visitor"]
    assert Visitor.objects.get(pk=bob["visitor"]).external_id == "99"
    log = client.get(
        widget_url("widget_conversation", inbox), headers={"X-Visitor-Token": bob["token"]}
    )
    assert "Ann&#x27;s question" not in log.text
    assert "Ann's question" not in log.text
    assert Message.objects.filter(conversation__visitor_id=ann["visitor"]).count() == 1


def test_the_readmes_server_side_example_signs_as_the_desk_verifies(inbox: Inbox) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = re.search(r"```python\n(# Identity verification.*?)```", readme, re.S)
    assert example, "README has no server-side identity example"
    namespace: dict = {}
    exec(example.group(1), namespace)  # noqa: S102 - our own README's example
    attributes = namespace["widget_user_attributes"](
        secret=inbox.identity_secret, user_id="42", email="ann@example.com", name="Ann"
    )
    claims = {key.removeprefix("data-user-"): value for key, value in attributes.items()}
    claims["user_id"] = claims.pop("id")
    assert identity_verify(inbox, claims).email == "ann@example.com"


def test_a_used_signature_stays_used_whatever_happens_to_the_cache(
    client: Client, inbox: Inbox, settings
) -> None:
    """Issue 16: used signatures lived in the cache; on the embedded default ~360 ordinary
    requests evicted the marker and a replay signed the thief in as the victim. They are rows of
    the database now: a flood of rate-limit windows, or a cache that is down, changes nothing."""
    settings.CACHES = {"default": dict(settings.EMBEDDED_CACHE)}
    claims = signed(inbox)
    owner = session(client, inbox, claims)
    assert owner["identity"] == "verified"
    for i in range(2000):  # the attacker's own widget requests, each a window in the cache
        ratelimit.hit("widget_ip", f"198.51.100.{i}")
    thief = session(Client(), inbox, claims)
    assert (thief["identity"], thief["identity_error"]) == ("rejected", "replayed")
    assert UsedSignature.objects.filter(inbox=inbox, signature=claims["signature"]).count() == 1


def test_without_the_cache_a_fresh_signature_still_signs_in_once(
    client: Client, inbox: Inbox, cache_down: None
) -> None:
    claims = signed(inbox)
    assert session(client, inbox, claims)["identity"] == "verified"
    thief = session(Client(), inbox, claims)
    assert (thief["identity"], thief["identity_error"]) == ("rejected", "replayed")


def test_housekeeping_sweeps_signatures_that_could_no_longer_be_accepted(
    client: Client, inbox: Inbox
) -> None:
    session(client, inbox, signed(inbox))
    session(client, inbox, signed(inbox, user_id="43", email="bo@example.com"))
    UsedSignature.objects.filter(pk=UsedSignature.objects.order_by("pk").first().pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert housekeeping()["signatures_swept"] == 1
    assert UsedSignature.objects.count() == 1
