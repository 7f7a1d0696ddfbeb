"""The link in a missed-replies email reopens that visitor's conversation in the widget, and no
other: over HTTP, as a browser follows it (page, button, widget page, the widget's API)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import unquote

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Visitor
from chat.privacy import visitor_delete
from chat.services import visitor_profile_set, visitor_sessions_revoke
from chat.tokens import visitor_token
from mail.tokens import CONTINUE_SALT, address_key, continue_token
from tests.mail.conftest import deliver, inbox_of, visitor_chat

pytestmark = pytest.mark.django_db


def continue_path(sent) -> str:
    text = sent.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://testserver(/mail/continue/\S+/)", text)[1]


def test_the_emails_link_reopens_the_same_conversation_in_the_widget(
    missed: Conversation, smtp
) -> None:
    deliver(minutes=6)
    [sent] = smtp.received
    path = continue_path(sent)
    browser = Client(enforce_csrf_checks=True)  # as a browser: the button's form carries it

    page = browser.get(path)
    assert page.status_code == 200
    assert "Continue the conversation" in page.text
    assert "v…a@example.org" in page.text  # whose chat it is, without the whole address
    assert "visitor_token" not in page.text  # opening the link hands out nothing

    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    answer = browser.post(path, {"csrfmiddlewaretoken": csrf})
    assert answer.status_code == 303
    url, _, fragment = answer["Location"].partition("#")
    handover = json.loads(unquote(fragment))
    key = inbox_of(missed).public_key
    assert url == reverse("chat:widget_page", args=[key])
    assert handover["conversation"] == missed.pk
    assert browser.get(url).status_code == 200  # the inbox's widget page

    token = handover["visitor_token"]
    log = browser.get(
        reverse("chat:widget_conversation", args=[key]), headers={"X-Visitor-Token": token}
    )
    assert log.status_code == 200
    assert f'data-conversation="{missed.pk}"' in log.text
    assert "It ships tomorrow." in log.text
    written = browser.post(
        reverse("chat:widget_send", args=[key]),
        {"body": "Great, thanks!", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": token},
    )
    assert written.status_code == 201
    assert written["X-Conversation-Id"] == str(missed.pk)  # the same conversation, continued


def test_the_button_needs_the_pages_csrf_token(missed: Conversation, mail_settings) -> None:
    browser = Client(enforce_csrf_checks=True)
    path = reverse("mail:continue", args=[continue_token(missed)])
    assert browser.post(path).status_code == 403  # another site cannot press it for you


def refused(path: str, method: str = "get") -> tuple[int, str]:
    answer = getattr(Client(), method)(path)
    code = re.search(r'data-code="([a-z_]+)"', answer.text)
    return answer.status_code, code[1] if code else ""


def test_an_expired_link_says_so(missed: Conversation, mail_settings) -> None:
    path = reverse("mail:continue", args=[continue_token(missed)])
    mail_settings.SUPPORTDESK_MAIL_LINK_MAX_AGE = -1  # older than allowed by now
    assert refused(path) == (410, "link_expired")
    assert refused(path, "post") == (410, "link_expired")


def test_a_changed_link_is_refused(missed: Conversation, mail_settings) -> None:
    token = continue_token(missed)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert refused(reverse("mail:continue", args=[forged])) == (400, "bad_link")
    assert refused(reverse("mail:continue", args=["not-a-token"])) == (400, "bad_link")


def test_a_widget_token_is_no_link(missed: Conversation, mail_settings) -> None:
    # Signed with the same key, for another purpose: the salts keep them apart.
    path = reverse("mail:continue", args=[visitor_token(missed.visitor)])
    assert refused(path, "post") == (400, "bad_link")


def test_a_link_naming_another_visitors_conversation_opens_nothing(
    missed: Conversation, visitor_b: Visitor, mail_settings
) -> None:
    """Even signed with the desk's key, claims that pair a visitor with someone else's chat are
    refused: the conversation is looked up as that visitor's."""
    theirs = visitor_chat(visitor_b, "Visitor B's secret")
    claims = {
        "v": missed.visitor_id,
        "i": missed.inbox_id,
        "c": theirs.pk,
        "g": 0,
        "e": address_key(missed.visitor.email)[:16],
    }
    path = reverse("mail:continue", args=[signing.dumps(claims, salt=CONTINUE_SALT)])
    assert refused(path, "post") == (404, "link_gone")


def test_signing_the_visitor_out_everywhere_revokes_the_link(
    missed: Conversation, mail_settings
) -> None:
    path = reverse("mail:continue", args=[continue_token(missed)])
    visitor_sessions_revoke(visitor=missed.visitor)
    assert refused(path, "post") == (403, "link_revoked")


def test_a_new_address_revokes_the_link_sent_to_the_old_one(
    missed: Conversation, mail_settings
) -> None:
    path = reverse("mail:continue", args=[continue_token(missed)])
    visitor_profile_set(visitor=missed.visitor, email="someone-else@example.org")
    assert refused(path, "post") == (403, "link_revoked")


def test_an_erased_visitors_link_opens_nothing(missed: Conversation, mail_settings) -> None:
    path = reverse("mail:continue", args=[continue_token(missed)])
    visitor_delete(visitor=missed.visitor)
    assert refused(path, "post") == (404, "link_gone")
