"""The transcript: the visitor asks for it from the widget when the chat ended, or an agent sends
it from the dashboard; it goes to the visitor's address, once, without internal notes."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from chat.models import Conversation, Visitor
from chat.tokens import visitor_token
from mail.models import OutboundEmail, Unsubscribe
from mail.outbox import emails_send_due
from mail.services import transcript_queue
from mail.tokens import address_key
from tests.agents.helpers import chat, logged_in
from tests.mail.conftest import VISITOR_ADDRESS, inbox_of

pytestmark = pytest.mark.django_db


def ended(conversation: Conversation, agent: Agent) -> Conversation:
    client = logged_in(agent)
    client.post(
        reverse("agents:note", args=[conversation.pk]),
        {"body": "Internal: refund approved", "client_id": str(uuid.uuid4())},
    )
    assert client.post(reverse("agents:end", args=[conversation.pk])).status_code == 200
    return Conversation.objects.select_related("visitor").get(pk=conversation.pk)


def ask(
    conversation: Conversation,
    visitor: Visitor,
    headers: dict[str, str] | None = None,
    **data: str,
):
    """The widget's request, with `visitor`'s token (and `headers`: an htmx request's)."""
    return Client().post(
        reverse(
            "mail:widget_transcript", args=[inbox_of(conversation).public_key, conversation.pk]
        ),
        data,
        headers={"X-Visitor-Token": visitor_token(visitor), **(headers or {})},
    )


def test_the_visitor_gets_the_transcript_of_their_ended_chat_once(
    missed: Conversation, agent: Agent, smtp
) -> None:
    conversation = ended(missed, agent)
    first = ask(conversation, conversation.visitor)
    assert first.status_code == 202
    assert "We'll email the transcript to" in first.text
    assert VISITOR_ADDRESS in first.text
    assert ask(conversation, conversation.visitor).status_code == 200  # queued already
    assert emails_send_due() == 1
    [sent] = smtp.received
    assert sent["To"] == VISITOR_ADDRESS
    assert sent["Subject"] == "Your chat with Acme support"
    text = sent.get_body(preferencelist=("plain",)).get_content()
    for line in ("My order never arrived", "It ships tomorrow.", "Alice ended the chat."):
        assert line in text
    assert "refund approved" not in text  # internal notes stay internal
    assert "refund approved" not in sent.get_body(preferencelist=("html",)).get_content()


def test_only_an_ended_chat(missed: Conversation, mail_settings) -> None:
    answer = ask(missed, missed.visitor)
    assert (answer.status_code, answer.json()["error"]) == (409, "not_ended")


def test_another_visitors_token_gets_nothing(
    missed: Conversation, agent: Agent, visitor_b: Visitor, mail_settings
) -> None:
    conversation = ended(missed, agent)
    answer = ask(conversation, visitor_b)
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found")
    no_token = Client().post(
        reverse("mail:widget_transcript", args=[inbox_of(conversation).public_key, conversation.pk])
    )
    assert no_token.status_code == 401
    assert not OutboundEmail.objects.exists()


def test_a_visitor_without_an_address_is_asked_for_one(
    visitor: Visitor, agent: Agent, mail_settings
) -> None:
    conversation = chat(visitor, "Hi")
    logged_in(agent).post(reverse("agents:claim", args=[conversation.pk]))
    conversation = ended(conversation, agent)
    answer = ask(conversation, visitor)
    assert (answer.status_code, answer.json()["error"]) == (409, "no_email")
    assert ask(conversation, visitor, email="not an address").status_code == 422
    answer = ask(conversation, visitor, email="new@example.org")
    assert answer.status_code == 202
    assert OutboundEmail.objects.get().to == "new@example.org"


def test_an_unsubscribed_address_gets_no_transcript(
    missed: Conversation, agent: Agent, mail_settings
) -> None:
    conversation = ended(missed, agent)
    Unsubscribe.objects.create(inbox=inbox_of(missed), address_key=address_key(VISITOR_ADDRESS))
    answer = ask(conversation, conversation.visitor)
    assert (answer.status_code, answer.json()["error"]) == (409, "unsubscribed")
    # The widget's button (htmx) says why in words, in its place.
    refused = ask(conversation, conversation.visitor, headers={"HX-Request": "true"})
    assert refused.status_code == 409
    assert "This address unsubscribed from our emails" in refused.text
    assert 'role="alert"' in refused.text
    assert not OutboundEmail.objects.exists()


def test_an_agent_sends_the_transcript_from_the_dashboard(
    missed: Conversation, agent: Agent, outsider_agent: Agent, smtp
) -> None:
    path = reverse("mail:agent_transcript", args=[missed.pk])
    assert logged_in(outsider_agent).post(path).status_code == 404  # not their inbox
    assert Client().post(path).status_code == 302  # to the login page
    answer = logged_in(agent).post(path)
    assert answer.status_code == 202
    assert emails_send_due() == 1
    assert smtp.received[0]["Subject"] == "Your chat with Acme support"


def test_erasing_the_visitor_deletes_their_emails_in_the_queue_and_says_so_first(
    missed: Conversation, mail_settings
) -> None:
    """The queue holds copies of their messages: the erasure's preview counts them, and they go."""
    from chat.privacy import visitor_delete, visitor_deletion_preview

    transcript_queue(conversation=missed)
    preview = visitor_deletion_preview(visitor=missed.visitor)
    assert preview["mail.OutboundEmail"] == 1
    assert visitor_delete(visitor=missed.visitor) == preview
    assert not OutboundEmail.objects.exists()


def test_the_dashboards_button_shows_where_it_went_or_why_not(
    visitor: Visitor, agent: Agent, mail_settings
) -> None:
    """The button on an ended chat's header (an htmx request) is answered with a line to show in
    its place: where the transcript goes, or, refused, the reason (not the API's JSON)."""
    conversation = chat(visitor, "Hi")
    logged_in(agent).post(reverse("agents:claim", args=[conversation.pk]))
    conversation = ended(conversation, agent)
    pane = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    path = reverse("mail:agent_transcript", args=[conversation.pk])
    assert f'hx-post="{path}"' in pane.content.decode()
    refused = logged_in(agent).post(path, headers={"HX-Request": "true"})
    assert refused.status_code == 409
    assert 'data-code="no_email"' in refused.content.decode()
    assert "Give an email address first" in refused.content.decode()
    visitor.email = "ann@example.com"
    visitor.save(update_fields=["email"])
    queued = logged_in(agent).post(path, headers={"HX-Request": "true"})
    assert queued.status_code == 202
    assert "ann@example.com" in queued.content.decode()
    assert OutboundEmail.objects.get().to == "ann@example.com"


def test_the_widgets_button_asks_for_an_address_then_says_where_it_went(
    visitor: Visitor, agent: Agent, mail_settings
) -> None:
    """The widget's "Email me the transcript" (an htmx request) is answered with its own form
    again: a field for the address when the visitor gave none (a step, not an error), the
    refusal of a malformed one with the address kept out of the queue, then where it goes."""
    conversation = chat(visitor, "Hi")
    logged_in(agent).post(reverse("agents:claim", args=[conversation.pk]))
    conversation = ended(conversation, agent)
    htmx = {"HX-Request": "true"}
    asked = ask(conversation, visitor, headers=htmx)
    assert asked.status_code == 200
    assert 'name="email"' in asked.text
    assert "Where should we send the transcript?" in asked.text
    malformed = ask(conversation, visitor, headers=htmx, email="not an address")
    assert malformed.status_code == 422
    assert 'aria-invalid="true"' in malformed.text
    assert 'value="not an address"' in malformed.text  # kept, to mend
    assert 'role="alert"' in malformed.text
    assert not OutboundEmail.objects.exists()
    queued = ask(conversation, visitor, headers=htmx, email="ann@example.com")
    assert queued.status_code == 202
    assert "We'll email the transcript to" in queued.text
    assert "ann@example.com" in queued.text
    assert 'name="email"' not in queued.text
    assert 'id="email-capture" hx-swap-oob="true"' in queued.text  # its other form learns it
    assert OutboundEmail.objects.get().to == "ann@example.com"


def test_an_ended_chat_offers_the_transcript_only_where_the_desk_can_email(
    missed: Conversation, agent: Agent, settings
) -> None:
    """Without SUPPORTDESK_SITE_URL the desk sends no email (mail.checks): no button then."""
    from django.template.loader import render_to_string

    conversation = ended(missed, agent)
    settings.SUPPORTDESK_SITE_URL = "https://desk.example.com"
    state = render_to_string("chat/widget/page.html#state", {"conversation": conversation})
    assert "Email me the transcript" in state
    assert f'hx-post="conversations/{conversation.pk}/transcript"' in state
    settings.SUPPORTDESK_SITE_URL = ""
    state = render_to_string("chat/widget/page.html#state", {"conversation": conversation})
    assert "transcript" not in state
