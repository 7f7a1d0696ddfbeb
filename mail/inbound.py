"""Reading a visitor's email reply: the raw RFC 822 message into what the desk stores.

Pure functions, no database: `parse` reads the headers that decide where the reply goes and the
text the visitor wrote, with the quoted history and the signature cut (`reply_text`). What it
cannot read is refused with `Refused` (400), never guessed at: the mail server then bounces it,
and its sender learns that it did not arrive.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html import unescape
from typing import NamedTuple

from django.utils.html import strip_tags

from chat.sending import Refused

# Our own emails put this line above the quoted copy a reply carries (mail templates).
REPLY_ABOVE = "Reply above this line"

# Where a mail program starts the quoted message or the signature; everything from the first such
# line on is cut. Lines of their own (re.MULTILINE), so a sentence that mentions them stays.
CUT = re.compile(
    "|".join(
        [
            r"^.*" + re.escape(REPLY_ABOVE) + r".*$",
            r"^-- ?$",  # RFC 3676's signature delimiter
            r"^_{10,}\s*$",  # Outlook's rule above the quoted headers
            r"^-{3,} ?(?:Original Message|Ursprüngliche Nachricht|Message d'origine) ?-{3,}",
            r"^(?:On|Am|Le|El|Il|Op) .{1,300}(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef)"
            r".{0,300}:\s*$",
            r"^(?:From|Von|De): .+\n(?:.+\n){0,6}?(?:Sent|Gesendet|Envoyé|Date|Datum): ",
            r"^Sent from my ",
            r"^Get Outlook for ",
            r"^Von meinem .* gesendet",
        ]
    ),
    re.MULTILINE | re.IGNORECASE,
)
# "On Tue, 3 Mar 2026 at 10:00, Acme <reply+...@...>" and the rest of that line on the next.
WROTE_SPLIT = re.compile(r"^(?:On|Am|Le) .{1,200}\n.{0,200}(?:wrote|schrieb|a écrit):\s*$", re.M)
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
MAX_HEADER_IDS = 50  # References of a long thread: enough to find ours among them


class Inbound(NamedTuple):
    message_id: str
    sender: str  # the From address, as written
    recipients: list[str]  # To, Cc, Delivered-To, X-Original-To, Envelope-To
    references: list[str]  # In-Reply-To first, then References, newest first
    auto_submitted: bool  # an auto-reply (out of office, RFC 3834): not a visitor's words
    text: str  # what the visitor wrote, trimmed


def parse(raw: bytes) -> Inbound:
    """The reply in `raw`, or `Refused` (400) with what is wrong with it."""
    if not raw.strip():
        raise Refused(400, "empty_email", "The request carries no email.")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        headers = dict(message.items())
    except (ValueError, TypeError, IndexError, LookupError) as exc:
        raise Refused(400, "malformed_email", f"The email cannot be read: {exc}.") from None
    if not headers or not isinstance(message, EmailMessage):
        raise Refused(400, "malformed_email", "The email has no headers.")
    message_id = _ids(_header(message, "Message-ID"))
    if not message_id:
        # The Message-ID is what makes a repeated delivery store nothing new.
        raise Refused(400, "no_message_id", "The email has no Message-ID header.")
    sender = parseaddr(_header(message, "From"))[1]
    if "@" not in sender:
        raise Refused(400, "no_sender", "The email has no From address.")
    recipients = [
        address
        for name in RECIPIENT_HEADERS
        for _, address in getaddresses([_header(message, name)])
        if address
    ]
    references = _ids(_header(message, "In-Reply-To"))
    references += reversed(_ids(_header(message, "References")))
    auto = _header(message, "Auto-Submitted").strip().lower()
    return Inbound(
        message_id=message_id[0],
        sender=sender,
        recipients=recipients,
        references=references[:MAX_HEADER_IDS],
        auto_submitted=bool(auto) and auto != "no",
        text=reply_text(_body_text(message)),
    )


def _header(message: EmailMessage, name: str) -> str:
    """A header's values joined, as text; "" if it is absent or unreadable."""
    try:
        values = message.get_all(name) or []
        return ", ".join(str(value) for value in values)
    except (ValueError, TypeError, IndexError, LookupError):
        return ""


def _ids(value: str) -> list[str]:
    """The `<id@host>` message ids in a header, as written (without the brackets)."""
    return re.findall(r"<([^<>\s]{1,250})>", value)


def _body_text(message: EmailMessage) -> str:
    """The message's text: its plain part, else its HTML part without the markup."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        content = part.get_content() if part is not None else ""
    except (KeyError, LookupError, ValueError, UnicodeError) as exc:
        raise Refused(400, "malformed_email", f"The email's text cannot be read: {exc}.") from None
    if not isinstance(content, str):
        return ""
    if part is not None and part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", content)
        content = re.sub(r"(?is)<blockquote\b.*", "", content)  # the quoted message, and after
        content = unescape(strip_tags(content))
    return content


def reply_text(text: str) -> str:
    """What the sender wrote: the text above the quoted message and the signature, without
    quoted (`>`) lines, with blank runs folded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = WROTE_SPLIT.sub(REPLY_ABOVE, text)
    cut = CUT.search(text)
    if cut is not None:
        text = text[: cut.start()]
    lines = [line.rstrip() for line in text.split("\n") if not line.lstrip().startswith(">")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
