"""The signed values in the desk's emails: the link back to the chat, the unsubscribe link and the
reply address. Each has a salt of its own, so none can stand in for another, nor for a visitor's
widget token (chat.tokens), which a link is exchanged for, never equal to.

- **Continue link** (`continue_token`): names the visitor, their inbox, the conversation, the
  visitor's token generation and a hash of the address it was sent to; expires after
  SUPPORTDESK_MAIL_LINK_MAX_AGE. It stops working early when the visitor is signed out everywhere
  (the generation moves), erased, or their address changes (the email went to someone else).
- **Unsubscribe link** (`unsubscribe_token`): names the inbox and the address's hash; it does not
  expire (RFC 8058: the link in an old email must still work).
- **Reply address** (`reply_address`): `LOCAL+<conversation>.<hmac>@DOMAIN` of
  SUPPORTDESK_MAIL_REPLY_ADDRESS. An HMAC, not `signing.dumps`: a local part holds at most 64
  characters, and mail servers may change its case, so it is short and lowercase hex.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from chat.models import Conversation, Visitor
from chat.sending import Refused

CONTINUE_SALT = "supportdesk.mail.continue"
UNSUBSCRIBE_SALT = "supportdesk.mail.unsubscribe"
REPLY_SALT = "supportdesk.mail.reply"
REPLY_MAC_LENGTH = 20  # hex digits: 80 bits
REPLY_TOKEN = re.compile(rf"\+(\d{{1,18}})\.([0-9a-f]{{{REPLY_MAC_LENGTH}}})@", re.IGNORECASE)


def address_key(address: str) -> str:
    """What identifies an address in the unsubscribe list and in links: its SHA-256, lowercased
    first. Unkeyed on purpose: a new SECRET_KEY must not forget who unsubscribed."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


class ContinueClaims(NamedTuple):
    visitor_id: int
    inbox_id: int
    conversation_id: int
    generation: int
    address: str  # the first 16 hex digits of the address's key


def continue_token(conversation: Conversation) -> str:
    """The link's token for the conversation's visitor, at the address they have now."""
    visitor = conversation.visitor
    claims = {
        "v": visitor.pk,
        "i": visitor.inbox_id,
        "c": conversation.pk,
        "g": visitor.token_generation,
        "e": address_key(visitor.email)[:16],
    }
    return signing.dumps(claims, salt=CONTINUE_SALT, compress=True)


def continue_claims(token: str) -> ContinueClaims:
    """The claims of a genuine, unexpired link token; `Refused` (400 bad, 410 expired) else."""
    try:
        claims = signing.loads(
            token, salt=CONTINUE_SALT, max_age=settings.SUPPORTDESK_MAIL_LINK_MAX_AGE
        )
    except signing.SignatureExpired:
        raise Refused(
            410,
            "link_expired",
            "This link has expired. Open the chat on the website, or reply to the email.",
        ) from None
    except signing.BadSignature:
        raise Refused(400, "bad_link", "This link is not valid; copy the whole link.") from None
    if not (
        isinstance(claims, dict)
        and all(isinstance(claims.get(k), int) for k in "vicg")
        and isinstance(claims.get("e"), str)
    ):
        raise Refused(400, "bad_link", "This link is not valid; copy the whole link.")
    return ContinueClaims(claims["v"], claims["i"], claims["c"], claims["g"], claims["e"])


def continue_conversation(token: str) -> Conversation:
    """The conversation a link opens, with its visitor and inbox loaded, if the link still holds:
    `Refused` otherwise (404 gone, 403 revoked). Only ever the visitor the link was sent to."""
    claims = continue_claims(token)
    conversation = (
        Conversation.objects.select_related("visitor", "inbox")
        .filter(
            pk=claims.conversation_id,
            visitor_id=claims.visitor_id,
            inbox_id=claims.inbox_id,
        )
        .first()
    )
    if conversation is None:
        raise Refused(404, "link_gone", "This conversation no longer exists.")
    visitor = conversation.visitor
    if visitor.token_generation != claims.generation or not constant_time_compare(
        address_key(visitor.email)[:16], claims.address
    ):
        raise Refused(
            403,
            "link_revoked",
            "This link no longer opens the chat. Open the chat on the website instead.",
        )
    return conversation


def unsubscribe_token(*, inbox_id: int, address: str) -> str:
    return signing.dumps({"i": inbox_id, "a": address_key(address)}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_claims(token: str) -> tuple[int, str]:
    """`(inbox_id, address_key)` of a genuine unsubscribe token; `Refused` (400) else."""
    try:
        claims = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise Refused(400, "bad_link", "This unsubscribe link is not valid.") from None
    if not (
        isinstance(claims, dict)
        and isinstance(claims.get("i"), int)
        and isinstance(claims.get("a"), str)
    ):
        raise Refused(400, "bad_link", "This unsubscribe link is not valid.")
    return claims["i"], claims["a"]


def _reply_mac(conversation_id: int) -> str:
    mac = salted_hmac(REPLY_SALT, str(conversation_id), algorithm="sha256").hexdigest()
    return mac[:REPLY_MAC_LENGTH]


def reply_address(conversation_id: int) -> str:
    """The address a reply about this conversation goes to; "" when no reply address is set."""
    local, at, domain = settings.SUPPORTDESK_MAIL_REPLY_ADDRESS.rpartition("@")
    if not (local and at and domain):
        return ""
    return f"{local}+{conversation_id}.{_reply_mac(conversation_id)}@{domain}"


def conversation_id_from_addresses(addresses: Iterable[str]) -> int | None:
    """The conversation named by a genuine reply address among `addresses`, or None."""
    for address in addresses:
        for match in REPLY_TOKEN.finditer(address):
            conversation_id = int(match[1])
            if constant_time_compare(match[2].lower(), _reply_mac(conversation_id)):
                return conversation_id
    return None


def visitor_address_matches(visitor: Visitor, address: str) -> bool:
    """Whether `address` is the visitor's email address (case aside)."""
    return bool(visitor.email) and address.strip().lower() == visitor.email.strip().lower()
