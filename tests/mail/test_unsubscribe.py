"""RFC 8058 one-click unsubscribe: the mail program's POST stops every further visitor email from
the inbox to that address; opening the link changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from chat.models import Conversation
from chat.sending import Refused
from chat.services import conversation_read
from mail.models import OutboundEmail, Unsubscribe
from mail.services import transcript_queue
from mail.tokens import unsubscribe_token
from tests.mail.conftest import VISITOR_ADDRESS, agent_replies, deliver, inbox_of

pytestmark = pytest.mark.django_db


def one_click(sent) -> Client:
    """What the mail program does with List-Unsubscribe-Post: a POST, from its own server."""
    url = sent["List-Unsubscribe"].strip()[1:-1]
    mail_program = Client(enforce_csrf_checks=True)  # no cookies, no CSRF token
    answer = mail_program.post(
        url.removeprefix("http://testserver"),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert "You're unsubscribed" in answer.text
    return mail_program


def test_one_click_stops_further_visitor_emails(missed: Conversation, agent: Agent, smtp) -> None:
    assert deliver(minutes=6) == (1, 1)
    one_click(smtp.received[0])
    assert Unsubscribe.objects.count() == 1

    conversation_read(conversation_id=missed.pk, reader="visitor", seq=missed.last_seq)
    agent_replies(agent, missed, "One more thing")
    assert deliver(minutes=12) == (0, 0)  # missed again: no email
    with pytest.raises(Refused) as refused:
        transcript_queue(conversation=missed)
    assert refused.value.code == "unsubscribed"
    assert len(smtp.received) == 1


def test_an_email_queued_before_the_unsubscribe_is_cancelled(missed: Conversation, smtp) -> None:
    transcript_queue(conversation=missed)
    token = unsubscribe_token(inbox_id=missed.inbox_id, address=VISITOR_ADDRESS.upper())
    Client().post(reverse("mail:unsubscribe", args=[token]))  # the address, whatever its case
    assert deliver(minutes=6) == (0, 0)
    assert smtp.received == []
    assert OutboundEmail.objects.get().status == "cancelled"


def test_opening_the_link_only_asks(missed: Conversation, mail_settings) -> None:
    path = reverse(
        "mail:unsubscribe",
        args=[unsubscribe_token(inbox_id=missed.inbox_id, address=VISITOR_ADDRESS)],
    )
    page = Client().get(path)
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert not Unsubscribe.objects.exists()


def test_a_bad_unsubscribe_link_says_so(missed: Conversation, mail_settings) -> None:
    answer = Client().post(reverse("mail:unsubscribe", args=["forged:token"]))
    assert answer.status_code == 400
    assert 'data-code="bad_link"' in answer.text
    gone = unsubscribe_token(inbox_id=inbox_of(missed).pk + 1000, address=VISITOR_ADDRESS)
    assert Client().post(reverse("mail:unsubscribe", args=[gone])).status_code == 404
    assert not Unsubscribe.objects.exists()
