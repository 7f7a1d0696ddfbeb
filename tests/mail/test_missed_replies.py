"""Replies the visitor missed: one email over a real SMTP server, in the inbox's name and accent,
with both parts and the RFC 8058 headers; the queue outlives an SMTP server that is down."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from agents.housekeeping import housekeeping, periodic_tasks
from chat.models import Conversation
from chat.services import conversation_read
from mail.models import InboxMailSettings, OutboundEmail
from mail.outbox import emails_send_due, mail_housekeeping
from mail.services import missed_replies_queue, transcript_queue
from tests.agents.helpers import chat, logged_in
from tests.mail.conftest import (
    VISITOR_ADDRESS,
    agent_replies,
    deliver,
    inbox_of,
    later,
)

pytestmark = pytest.mark.django_db


def plain(sent) -> str:
    return sent.get_body(preferencelist=("plain",)).get_content()


def html(sent) -> str:
    return sent.get_body(preferencelist=("html",)).get_content()


def test_the_missed_replies_email_arrives_once_with_text_and_html_in_the_inboxs_name_and_accent(
    missed: Conversation, smtp
) -> None:
    inbox = inbox_of(missed)
    inbox.accent_color = "#e8590c"
    inbox.save(update_fields=["accent_color"])

    assert deliver(minutes=6) == (1, 1)
    assert deliver(minutes=7) == (0, 0)
    assert deliver(minutes=60) == (0, 0)

    [sent] = smtp.received
    assert sent["To"] == VISITOR_ADDRESS
    assert sent["From"] == "Acme support <desk@desk.example>"
    assert sent["Subject"] == "2 new replies from Acme support"
    for part in (plain(sent), html(sent)):
        assert "Sorry to hear that!" in part
        assert "It ships tomorrow." in part
        assert "Alice" in part
        assert "http://testserver/mail/continue/" in part
    assert "#e8590c" in html(sent)  # the header and the button in the inbox's accent
    for part in (plain(sent), html(sent)):
        assert not any(mark in part for mark in ("{%", "%}", "{{", "}}", "{#")), part
    assert sent["Message-ID"] == OutboundEmail.objects.get().message_id
    assert sent["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(
        rf"Acme support <support\+{missed.pk}\.[0-9a-f]{{20}}@desk\.example>", sent["Reply-To"]
    )


def test_every_visitor_email_carries_a_one_click_unsubscribe(missed: Conversation, smtp) -> None:
    deliver(minutes=6)
    transcript_queue(conversation=missed)
    emails_send_due()
    assert len(smtp.received) == 2
    for sent in smtp.received:
        # (A long header is folded onto a line of its own: the leading space is not part of it.)
        link = sent["List-Unsubscribe"].strip()
        assert re.fullmatch(r"<http://testserver/mail/unsubscribe/[^>]+/>", link)
        assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert link[1:-1] in plain(sent)  # and a link a person can click


def test_nothing_before_the_inboxs_minutes_and_then_one(missed: Conversation, smtp) -> None:
    assert deliver(minutes=4) == (0, 0)
    InboxMailSettings.objects.create(inbox=inbox_of(missed), missed_reply_minutes=15)
    assert deliver(minutes=6) == (0, 0)
    assert deliver(minutes=16) == (1, 1)


def test_an_inbox_can_turn_the_missed_replies_email_off(missed: Conversation, smtp) -> None:
    InboxMailSettings.objects.create(inbox=inbox_of(missed), missed_reply_minutes=None)
    assert deliver(minutes=600) == (0, 0)
    assert smtp.received == []


def test_a_reply_the_visitor_has_seen_is_not_emailed(missed: Conversation, smtp) -> None:
    conversation_read(conversation_id=missed.pk, reader="visitor", seq=missed.last_seq)
    assert deliver(minutes=6) == (0, 0)


def test_a_visitor_who_left_no_address_gets_nothing(visitor, agent, smtp) -> None:
    conversation = chat(visitor, "Hello?")
    agent_replies(agent, conversation, "Hi!")
    assert deliver(minutes=6) == (0, 0)


def test_after_reading_a_reply_missed_again_is_a_new_email_with_only_the_new_one(
    missed: Conversation, agent, smtp
) -> None:
    assert deliver(minutes=6) == (1, 1)
    conversation_read(conversation_id=missed.pk, reader="visitor", seq=missed.last_seq)
    agent_replies(agent, missed, "Anything else I can do?")
    assert deliver(minutes=12) == (1, 1)
    _, second = smtp.received
    assert second["Subject"] == "A new reply from Acme support"
    assert "Anything else I can do?" in plain(second)
    assert "It ships tomorrow." not in plain(second)


def test_the_smtp_server_down_for_a_while_delays_the_email_and_loses_nothing(
    missed: Conversation, smtp
) -> None:
    smtp.stop()
    assert deliver(minutes=6) == (1, 0)
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert row.next_attempt_at > later(6)  # waits before it tries again

    assert emails_send_due(now=later(6.5)) == 0  # not due yet: not even tried
    assert OutboundEmail.objects.get().attempts == 1
    assert emails_send_due(now=later(7.5)) == 0  # due, still down: waits longer
    row = OutboundEmail.objects.get()
    assert row.attempts == 2
    assert row.next_attempt_at >= later(7.5) + timedelta(seconds=110)

    smtp.start()
    assert emails_send_due(now=later(30)) == 1
    assert emails_send_due(now=later(300)) == 0
    [sent] = smtp.received
    assert "It ships tomorrow." in plain(sent)
    row = OutboundEmail.objects.get()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")


def test_a_permanent_refusal_fails_the_email_and_it_is_not_tried_again(
    missed: Conversation, smtp
) -> None:
    smtp.recorder.refuse = "550 5.1.1 No such user here"
    assert deliver(minutes=6) == (1, 0)
    row = OutboundEmail.objects.get()
    assert row.status == "failed"
    assert "550" in row.last_error
    smtp.recorder.refuse = None
    assert emails_send_due(now=later(600)) == 0
    assert smtp.received == []


def test_a_temporary_refusal_is_tried_again_later(missed: Conversation, smtp) -> None:
    smtp.recorder.refuse = "451 4.3.0 Try again later"
    assert deliver(minutes=6) == (1, 0)
    assert OutboundEmail.objects.get().status == "pending"
    smtp.recorder.refuse = None
    assert emails_send_due(now=later(8)) == 1
    assert len(smtp.received) == 1


def test_a_rolled_back_transaction_queues_nothing(missed: Conversation, mail_settings) -> None:
    def fails_after_queueing() -> None:
        with transaction.atomic():
            transcript_queue(conversation=missed)
            raise RuntimeError("the request failed after queueing")

    with pytest.raises(RuntimeError):
        fails_after_queueing()
    assert not OutboundEmail.objects.exists()


def test_housekeeping_sends_the_queue_through_the_extension_point(
    missed: Conversation, smtp
) -> None:
    assert mail_housekeeping in periodic_tasks
    transcript_queue(conversation=missed)  # due at once
    counts = housekeeping()
    assert counts["mail_sent"] == 1
    assert counts["ended"] == 0  # housekeeping's own steps ran too
    [sent] = smtp.received
    assert sent["Subject"] == "Your chat with Acme support"


def test_send_queued_mail_command_queues_and_sends(missed: Conversation, smtp, capsys) -> None:
    transcript_queue(conversation=missed)
    call_command("send_queued_mail")
    assert capsys.readouterr().out.strip() == "0 queued, 1 sent, 0 waiting"
    assert len(smtp.received) == 1


def test_without_the_sites_address_no_email_is_made(
    missed: Conversation, agent, mail_settings
) -> None:
    mail_settings.SUPPORTDESK_SITE_URL = ""
    assert missed_replies_queue(now=later(6)) == 0
    answer = logged_in(agent).post(reverse("mail:agent_transcript", args=[missed.pk]))
    assert answer.status_code == 503
    assert answer.json()["error"] == "mail_not_configured"
    assert not OutboundEmail.objects.exists()


def test_the_system_check_warns_when_email_is_set_up_without_the_sites_address(
    mail_settings,
) -> None:
    from mail.checks import mail_settings_check

    assert mail_settings_check() == []
    mail_settings.SUPPORTDESK_SITE_URL = ""
    assert [w.id for w in mail_settings_check()] == ["mail.W001"]
    mail_settings.SUPPORTDESK_MAIL_REPLY_ADDRESS = mail_settings.SUPPORTDESK_MAIL_INBOUND_SECRET = (
        ""
    )
    mail_settings.EMAIL_HOST = "localhost"
    assert mail_settings_check() == []  # email never set up: nothing to say
