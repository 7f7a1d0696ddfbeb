"""A visitor's email reply lands in their conversation as their message, exactly once, live on
the dashboard; what is not a genuine reply of theirs is refused and stores nothing."""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from chat.models import Conversation, Message, Visitor
from mail.inbound import reply_text
from mail.models import AgentMailSettings, OutboundEmail
from mail.outbox import _email
from mail.services import missed_chats_queue, missed_replies_queue
from tests.chat.test_consumers import agent_socket, frames_until, message_ids, send
from tests.mail.conftest import SECRET, VISITOR_ADDRESS, agent_replies, deliver, later, visitor_chat

pytestmark = pytest.mark.django_db


def reply(
    original: EmailMessage,
    text: str,
    *,
    sender: str = VISITOR_ADDRESS,
    to: str | None = None,
    message_id: str | None = None,
    **headers: str,
) -> bytes:
    """The visitor's mail program answering `original`: its quote below the text."""
    answer = EmailMessage()
    answer["From"] = sender
    answer["To"] = to or original["Reply-To"] or original["From"]
    answer["Subject"] = "Re: " + original["Subject"]
    answer["Message-ID"] = message_id or make_msgid(domain="mail.example.org")
    answer["In-Reply-To"] = original["Message-ID"]
    answer["References"] = original["Message-ID"]
    for name, value in headers.items():
        answer[name.replace("_", "-")] = value
    quoted = original.get_body(preferencelist=("plain",)).get_content()
    answer.set_content(
        f"{text}\n\nOn Sat, 5 Dec 2026 at 12:00, Acme support <{original['From']}> wrote:\n"
        + "\n".join("> " + line for line in quoted.splitlines())
    )
    return bytes(answer)


def as_sent(row: OutboundEmail) -> EmailMessage:
    """A queued email exactly as the SMTP server would get it."""
    raw = _email(row, None).message().as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default)


def post(raw: bytes, secret: str | None = SECRET, client: Client | None = None, **headers: str):
    if secret is not None:
        headers.setdefault("X-Supportdesk-Secret", secret)
    return (client or Client()).post(
        reverse("mail:inbound"), data=raw, content_type="message/rfc822", headers=headers
    )


def visitor_messages(conversation: Conversation) -> list[str]:
    return list(
        Message.objects.filter(
            conversation__visitor_id=conversation.visitor_id, sender_kind="visitor"
        )
        .order_by("pk")
        .values_list("body", flat=True)
    )


@pytest.fixture
def emailed(missed: Conversation, smtp) -> EmailMessage:
    """The missed-replies email, as the visitor received it over SMTP."""
    deliver(minutes=6)
    [sent] = smtp.received
    return sent


def test_a_reply_lands_once_in_the_same_conversation_even_delivered_twice(
    missed: Conversation, emailed: EmailMessage
) -> None:
    raw = reply(emailed, "Thanks, that helps!\nSee you.")
    first = post(raw)
    assert first.status_code == 201
    assert first.json() == {
        "outcome": "stored",
        "conversation": missed.pk,
        "seq": missed.last_seq + 1,
    }
    again = post(raw)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert visitor_messages(missed) == ["My order never arrived", "Thanks, that helps!\nSee you."]
    conversation = Conversation.objects.get(pk=missed.pk)
    assert conversation.last_seq == missed.last_seq + 1
    # Answering the email that showed the replies: the visitor has read them (✓✓ for agents).
    assert conversation.visitor_read_seq == missed.last_seq


def test_a_reply_matches_by_in_reply_to_when_there_is_no_reply_address(
    missed: Conversation, smtp, mail_settings
) -> None:
    mail_settings.SUPPORTDESK_MAIL_REPLY_ADDRESS = ""
    deliver(minutes=6)
    [sent] = smtp.received
    assert sent["Reply-To"] is None
    assert post(reply(sent, "Found it, thanks")).status_code == 201
    assert visitor_messages(missed)[-1] == "Found it, thanks"


def test_a_reply_matches_by_the_reply_address_alone(
    missed: Conversation, emailed: EmailMessage
) -> None:
    raw = reply(emailed, "Also: the invoice?")
    raw = raw.replace(b"In-Reply-To", b"X-Was-In-Reply-To").replace(b"References", b"X-Refs")
    assert post(raw).status_code == 201


def test_the_secret_is_required(missed: Conversation, emailed: EmailMessage) -> None:
    raw = reply(emailed, "Let me in")
    for answer in (
        post(raw, secret=None),
        post(raw, secret="wrong"),
        post(raw, secret=None, Authorization="Basic " + base64.b64encode(b"x:wrong").decode()),
    ):
        assert answer.status_code == 401
        assert answer.json()["error"] == "bad_secret"
    assert visitor_messages(missed) == ["My order never arrived"]
    basic = "Basic " + base64.b64encode(f"postfix:{SECRET}".encode()).decode()
    assert post(raw, secret=None, Authorization=basic).status_code == 201  # a webhook's URL


def test_inbound_email_is_off_without_a_secret(
    missed: Conversation, emailed: EmailMessage, mail_settings
) -> None:
    mail_settings.SUPPORTDESK_MAIL_INBOUND_SECRET = ""
    answer = post(reply(emailed, "Hello"), secret="")
    assert (answer.status_code, answer.json()["error"]) == (404, "inbound_off")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "empty_email"),
        (b"this is not an email at all", 400, "malformed_email"),
        (b"From: vera@example.org\r\nSubject: hi\r\n\r\nno id\r\n", 400, "no_message_id"),
        (b"Message-ID: <a@b>\r\nSubject: hi\r\n\r\nno sender\r\n", 400, "no_sender"),
        (
            b"From: vera@example.org\r\nMessage-ID: <new@mail.example.org>\r\n"
            b"To: desk@desk.example\r\nSubject: hello\r\n\r\nA new email, answering nothing\r\n",
            404,
            "unknown_conversation",
        ),
    ],
)
def test_what_is_no_reply_of_ours_is_refused(
    missed: Conversation, mail_settings, raw: bytes, status: int, code: str
) -> None:
    answer = post(raw)
    assert (answer.status_code, answer.json()["error"]) == (status, code)
    assert answer.json()["message"]  # a sentence for the person reading the bounce
    assert visitor_messages(missed) == ["My order never arrived"]


def test_a_forged_reply_address_matches_nothing(missed: Conversation, mail_settings) -> None:
    forged = EmailMessage()
    forged["From"] = VISITOR_ADDRESS
    forged["To"] = f"support+{missed.pk}.{'0' * 20}@desk.example"
    forged["Message-ID"] = make_msgid()
    forged.set_content("I guessed the address")
    answer = post(bytes(forged))
    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_conversation")


def test_a_reply_from_another_address_is_refused(
    missed: Conversation, emailed: EmailMessage
) -> None:
    answer = post(reply(emailed, "I am Vera, honest", sender="mallory@example.net"))
    assert (answer.status_code, answer.json()["error"]) == (403, "sender_mismatch")
    assert visitor_messages(missed) == ["My order never arrived"]


def test_a_reply_with_nothing_above_the_quote_is_refused(
    missed: Conversation, emailed: EmailMessage
) -> None:
    answer = post(reply(emailed, ""))
    assert (answer.status_code, answer.json()["error"]) == (422, "empty")


def test_an_out_of_office_reply_is_dropped(missed: Conversation, emailed: EmailMessage) -> None:
    answer = post(reply(emailed, "I am away until Monday.", Auto_Submitted="auto-replied"))
    assert (answer.status_code, answer.json()["outcome"]) == (202, "ignored")
    assert visitor_messages(missed) == ["My order never arrived"]


def test_an_agents_notice_is_never_answered_as_the_visitor(
    visitor: Visitor, agent: Agent, mail_settings
) -> None:
    """Replying to the missed-chat email an agent got does not write in the visitor's name."""
    agent.user.email = "alice@desk.example"
    agent.user.save(update_fields=["email"])
    AgentMailSettings.objects.create(agent=agent, missed_chats=True)
    conversation = visitor_chat(visitor)
    assert missed_chats_queue(now=later(6)) == 1
    notice = as_sent(OutboundEmail.objects.get(kind="missed_chat"))
    answer = post(reply(notice, "On it", sender=VISITOR_ADDRESS, to="desk@desk.example"))
    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_conversation")
    assert visitor_messages(conversation) == ["My order never arrived"]


def test_a_webhooks_form_field_carries_the_email(
    missed: Conversation, emailed: EmailMessage
) -> None:
    raw = reply(emailed, "Sent through the webhook")
    answer = Client().post(
        reverse("mail:inbound"), {"email": raw.decode()}, headers={"X-Supportdesk-Secret": SECRET}
    )
    assert answer.status_code == 201
    assert visitor_messages(missed)[-1] == "Sent through the webhook"


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        (
            "Yes please.\n\nOn Sat, 5 Dec 2026 at 12:00, Acme <desk@x> wrote:\n> old\n> text\n",
            "Yes please.",
        ),
        (  # Gmail folds a long attribution line
            "Yes.\n\nOn Sat, 5 Dec 2026 at 12:00, Acme support team of Example Inc\n"
            "<support+1.abc@desk.example> wrote:\n> old\n",
            "Yes.",
        ),
        ("Ja.\n\nAm 05.12.2026 um 12:00 schrieb Acme <desk@x>:\n> alt\n", "Ja."),
        (
            "Fine.\n\n________________________________\nFrom: Acme\nSent: Saturday\nTo: me\n\nold",
            "Fine.",
        ),
        ("Fine.\n-----Original Message-----\nFrom: Acme\n", "Fine."),
        ("Thanks!\n-- \nVera Example\nCEO\n", "Thanks!"),
        ("Thanks!\n\nSent from my iPhone\n", "Thanks!"),
        ("Top.\n> a quoted line\nBottom.", "Top.\nBottom."),
        ("Two\n\n\n\n\nparagraphs", "Two\n\nparagraphs"),
        ("## Reply above this line ##\nnothing", ""),
    ],
)
def test_quoted_history_and_signatures_are_trimmed(written: str, kept: str) -> None:
    assert reply_text(written) == kept


def test_an_html_only_reply_is_read_as_text(missed: Conversation, emailed: EmailMessage) -> None:
    answer = EmailMessage()
    answer["From"] = VISITOR_ADDRESS
    answer["To"] = emailed["Reply-To"]
    answer["Message-ID"] = make_msgid()
    answer.set_content(
        "<div>Sounds <b>good</b> &amp; thanks</div><blockquote>the old email</blockquote>",
        subtype="html",
    )
    assert post(bytes(answer)).status_code == 201
    assert visitor_messages(missed)[-1] == "Sounds good & thanks"


@pytest.mark.django_db(transaction=True)
async def test_an_email_reply_shows_live_on_the_dashboard_once(
    visitor: Visitor, agent: Agent, mail_settings
) -> None:
    conversation = await database_sync_to_async(visitor_chat)(visitor)
    await database_sync_to_async(agent_replies)(agent, conversation, "It ships tomorrow.")
    await database_sync_to_async(missed_replies_queue)(now=later(6))
    row = await OutboundEmail.objects.aget()
    raw = reply(await database_sync_to_async(as_sent)(row), "Great, thank you")
    conversation = await Conversation.objects.aget(pk=conversation.pk)

    dashboard = await agent_socket(agent)
    await dashboard.send_json_to(
        {"type": "resume", "conversation": conversation.pk, "after": conversation.last_seq}
    )
    await frames_until(dashboard, "synced")
    for status in (201, 200):  # delivered twice by the mail server
        answer = await database_sync_to_async(post)(raw)
        assert answer.status_code == status
    marker = await send(visitor, "and one more thing")  # what arrives after both deliveries

    frames: list[dict] = []
    while f"msg-{conversation.pk}-{marker.seq}" not in message_ids(frames):
        frames.append(await dashboard.receive_json_from(timeout=5))
    emailed_id = f"msg-{conversation.pk}-{conversation.last_seq + 1}"
    assert message_ids(frames).count(emailed_id) == 1
    assert "Great, thank you" in "".join(f.get("html", "") for f in frames)
    await dashboard.disconnect()


def test_a_reply_with_a_large_attachment_is_read_and_one_too_large_is_refused(
    missed: Conversation, emailed: EmailMessage
) -> None:
    """Over Django's form limit (2.5 MB) is fine for the raw body: a reply with a photo."""
    answer = email.message_from_bytes(reply(emailed, "Photo attached"), policy=email.policy.default)
    answer.add_attachment(b"\xff" * 3_000_000, maintype="image", subtype="jpeg", filename="a.jpg")
    assert post(bytes(answer)).status_code == 201
    assert visitor_messages(missed)[-1] == "Photo attached"
    answer.replace_header("Message-ID", make_msgid())
    answer.add_attachment(b"\xff" * 8_000_000, maintype="image", subtype="jpeg", filename="b.jpg")
    too_big = post(bytes(answer))
    assert (too_big.status_code, too_big.json()["error"]) == (413, "email_too_big")
