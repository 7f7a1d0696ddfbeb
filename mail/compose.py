"""Composing the desk's emails: subject, a text and an HTML part in the inbox's name and accent,
and the headers that go with them. Composed once, when queued (mail.services), and stored, so a
retry sends the same email with the same Message-ID.

Every email to a visitor carries RFC 8058's one-click unsubscribe (`List-Unsubscribe` with an
HTTPS link and `List-Unsubscribe-Post`), and, when SUPPORTDESK_MAIL_REPLY_ADDRESS is set, a
`Reply-To` that names the conversation (mail.tokens.reply_address). All carry
`Auto-Submitted: auto-generated` (RFC 3834), so out-of-office replies are not sent back at us.
Links are absolute, on SUPPORTDESK_SITE_URL: the emails are made where there is no request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chat.hours import inbox_zone
from chat.models import Conversation, Inbox, Message, Visitor
from chat.sending import Refused
from mail import tokens
from mail.inbound import REPLY_ABOVE


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


def site_url(path: str) -> str:
    """`path` on the desk, absolute; `Refused` (503) when SUPPORTDESK_SITE_URL is not set."""
    base = settings.SUPPORTDESK_SITE_URL.rstrip("/")
    if not base:
        raise Refused(
            503,
            "mail_not_configured",
            "Email is not set up on this desk (SUPPORTDESK_SITE_URL is empty).",
        )
    return base + path


def new_message_id() -> str:
    """A Message-ID of ours: random, so that knowing one email's gives nothing of another's."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "supportdesk.invalid"
    return f"<{uuid.uuid4().hex}@{domain}>"


def one_line(text: str) -> str:
    """`text` fit for a header: a line break in an inbox's name would make Django refuse the
    email (header injection) every time it is tried."""
    return " ".join(text.split())


def sender(inbox: Inbox) -> str:
    """The From header: the inbox's name at DEFAULT_FROM_EMAIL's address."""
    return formataddr((one_line(inbox.title), parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))


def visitor_language(visitor: Visitor) -> str:
    """The widget's language for this visitor (their browser's, if the desk speaks it)."""
    try:
        return translation.get_supported_language_variant(visitor.language.split(",")[0])
    except LookupError:
        return settings.LANGUAGE_CODE


def visitor_zone(visitor: Visitor, inbox: Inbox) -> ZoneInfo:
    """The visitor's time zone (what the widget reported), else the inbox's."""
    try:
        return ZoneInfo(visitor.timezone) if visitor.timezone else inbox_zone(inbox)
    except (ZoneInfoNotFoundError, ValueError):
        return inbox_zone(inbox)


def shown(messages: Iterable[Message], inbox: Inbox, *, visitor: str) -> list[dict[str, Any]]:
    """Messages as the emails show them: who wrote (`visitor` names the visitor), when, what."""
    return [
        {
            "seq": m.seq,
            "kind": m.sender_kind,
            "author": (
                m.author_agent.display_name
                if m.author_agent
                else inbox.title
                if m.sender_kind != Message.SenderKind.VISITOR
                else visitor
            ),
            "body": m.body or _("(a file)"),
            "created_at": m.created_at,
        }
        for m in messages
    ]


def visitor_email(
    conversation: Conversation,
    *,
    template: str,
    subject: str,
    messages: list[Message],
    continue_link: bool,
) -> Composed:
    """An email to the conversation's visitor, in their language and time zone.

    Precondition: `subject` is translated already (the caller runs in `visitor_language`)."""
    visitor, inbox = conversation.visitor, conversation.inbox
    unsubscribe = site_url(
        reverse(
            "mail:unsubscribe",
            args=[tokens.unsubscribe_token(inbox_id=inbox.pk, address=visitor.email)],
        )
    )
    reply_to = tokens.reply_address(conversation.pk)
    context = {
        "inbox": inbox,
        "subject": subject,
        "messages": shown(messages, inbox, visitor=_("You")),
        "continue_url": (
            site_url(reverse("mail:continue", args=[tokens.continue_token(conversation)]))
            if continue_link
            else ""
        ),
        "unsubscribe_url": unsubscribe,
        "reply_to": reply_to,
        "reply_above": REPLY_ABOVE,
    }
    with timezone.override(visitor_zone(visitor, inbox)):
        text = render_to_string(f"mail/email/{template}.txt", context)
        html = render_to_string(f"mail/email/{template}.html", context)
    headers = {
        "From": sender(inbox),
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    if reply_to:
        headers["Reply-To"] = formataddr((one_line(inbox.title), reply_to))
    return Composed(subject=one_line(subject), text=text, html=html, headers=headers)


def missed_replies(conversation: Conversation, replies: list[Message]) -> Composed:
    """The agents' replies the visitor has not seen, with the link back to the chat."""
    with translation.override(visitor_language(conversation.visitor)):
        subject = ngettext(
            "A new reply from %(inbox)s", "%(count)d new replies from %(inbox)s", len(replies)
        ) % {"inbox": conversation.inbox.title, "count": len(replies)}
        return visitor_email(
            conversation,
            template="missed_replies",
            subject=subject,
            messages=replies,
            continue_link=True,
        )


def transcript(conversation: Conversation, messages: list[Message]) -> Composed:
    """The whole conversation as the visitor saw it."""
    with translation.override(visitor_language(conversation.visitor)):
        subject = _("Your chat with %(inbox)s") % {"inbox": conversation.inbox.title}
        return visitor_email(
            conversation,
            template="transcript",
            subject=subject,
            messages=messages,
            continue_link=False,
        )


def missed_chat(conversation: Conversation, *, waiting: list[Message], minutes: int) -> Composed:
    """To an agent: a chat has waited `minutes` in their inbox with nobody online."""
    inbox = conversation.inbox
    with translation.override(settings.LANGUAGE_CODE), timezone.override(inbox_zone(inbox)):
        subject = _("A chat is waiting in %(inbox)s") % {"inbox": inbox.name}
        context = {
            "inbox": inbox,
            "subject": subject,
            "visitor": conversation.visitor.display_name,
            "minutes": minutes,
            "messages": shown(waiting, inbox, visitor=conversation.visitor.display_name),
            "open_url": site_url(reverse("agents:conversation", args=[conversation.pk])),
            "settings_url": site_url(reverse("mail:settings")),
        }
        text = render_to_string("mail/email/missed_chat.txt", context)
        html = render_to_string("mail/email/missed_chat.html", context)
    headers = {"From": sender(inbox), "Auto-Submitted": "auto-generated"}
    return Composed(subject=one_line(subject), text=text, html=html, headers=headers)
