"""Identity verification: the customer's server vouches for its logged-in user.

The customer's server signs `timestamp`, the user's id and email with the inbox's secret
(HMAC-SHA256, hex) when it renders a page, and the page passes the four values to the widget
(README, "Identity verification", has a server-side example). The desk accepts them only:

- with a correct signature (compared in constant time);
- within `SUPPORTDESK_IDENTITY_MAX_AGE_SECONDS` of the timestamp (and not from the future beyond
  a little clock skew): a signature copied out of a page does not work forever;
- once, unless the browser presenting it is already that user: a copied signature cannot be
  replayed on another device even inside the window (used signatures are rows of the database,
  `UsedSignature`, until they could no longer be accepted anyway; housekeeping sweeps them).

A verified visitor is the same `Visitor` on every device (`Visitor.external_id`); what an
anonymous visitor wrote on this device before signing in joins that visitor. Claims that fail
any check are ignored: the visitor stays anonymous, and the answer says why (for the site's
developer), never which part of a signature was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from chat.models import Conversation, Inbox, UsedSignature, Visitor
from chat.services import email_clean, end_locked, system_line

CLOCK_SKEW_SECONDS = 300
FIELDS = ("user_id", "email", "name", "timestamp", "signature")
SIGNED_IN_LINE = gettext_noop("The visitor signed in; the chat continues in their account.")
# What identity_signature makes: SHA-256 as hex. Anything else cannot match, and some of it (text
# that is not ASCII) makes hmac.compare_digest raise TypeError, which answered 500.
SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


class IdentityRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    user_id: str
    email: str
    name: str
    signature: str


def identity_signature(secret: str, *, user_id: str, email: str, timestamp: int) -> str:
    """What the customer's server computes: HMAC-SHA256 over "TIMESTAMP\\nUSER_ID\\nEMAIL".

    Newlines separate the parts and may not occur in them, so no two different claims sign the
    same text (with "." as separator, user "1.2" with email "x" would sign like user "1" with
    email "2.x")."""
    message = f"{timestamp}\n{user_id}\n{email}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def identity_verify(
    inbox: Inbox, claims: Mapping[str, str], *, now: float | None = None
) -> Identity:
    """The identity `claims` vouch for, or IdentityRejected(reason). Every claim is checked
    here, where it comes in, against the field it is stored in: nothing the database would
    refuse gets past (a refusal there was a 500)."""
    user_id = str(claims.get("user_id", "")).strip()
    email = str(claims.get("email", "")).strip()
    name = str(claims.get("name", "")).replace("\x00", "").strip()
    signature = str(claims.get("signature", "")).strip().lower()
    if not user_id or len(user_id) > Visitor._meta.get_field("external_id").max_length:
        raise IdentityRejected("bad_user_id")
    if any(ch in user_id + email for ch in "\n\r\x00"):
        raise IdentityRejected("bad_user_id")
    if email:
        try:
            email = email_clean(email)
        except ValidationError as exc:
            raise IdentityRejected("bad_email") from exc
    try:
        timestamp = int(str(claims.get("timestamp", "")))
    except ValueError as exc:
        raise IdentityRejected("bad_timestamp") from exc
    expected = identity_signature(
        inbox.identity_secret, user_id=user_id, email=email, timestamp=timestamp
    )
    if not SIGNATURE_RE.fullmatch(signature) or not hmac.compare_digest(expected, signature):
        raise IdentityRejected("bad_signature")
    age = (time.time() if now is None else now) - timestamp
    if age > settings.SUPPORTDESK_IDENTITY_MAX_AGE_SECONDS or age < -CLOCK_SKEW_SECONDS:
        raise IdentityRejected("expired")
    # The name is not signed: one longer than the field is cut to it rather than costing the
    # user their sign-in (the pre-chat form, where the visitor can fix it, refuses it instead).
    name = name[: Visitor._meta.get_field("name").max_length]
    return Identity(user_id=user_id, email=email, name=name, signature=signature)


def identity_claimed(claims: Mapping[str, str]) -> bool:
    return bool(str(claims.get("user_id", "")).strip() or claims.get("signature"))


def visitor_identify(*, inbox: Inbox, current: Visitor | None, identity: Identity) -> Visitor:
    """The visitor `identity` is, on this device (`current`: the browser's visitor, if any).

    - This browser is that user already: the same visitor (email and name refreshed).
    - Otherwise the signature must be fresh (IdentityRejected("replayed") if it was used).
    - The user has a visitor from another device: that one; an anonymous `current` hands it
      its conversations (so nothing written before signing in is lost).
    - First time: an anonymous `current` becomes that user; a `current` that is someone else
      (another user signed in on this computer) is left alone and a new visitor is made.
    """
    if current is not None and current.external_id == identity.user_id:
        return _refresh(current, identity)
    for attempt in range(2):
        try:
            with transaction.atomic():
                _mark_used(inbox, identity)
                return _link(inbox=inbox, current=current, identity=identity)
        except SignatureUsed:
            raise IdentityRejected("replayed") from None
        except IntegrityError:  # the same user signed in on two devices at the same instant
            if attempt:
                raise
    raise AssertionError("unreachable")


class SignatureUsed(Exception):
    pass


def _mark_used(inbox: Inbox, identity: Identity) -> None:
    """Record the signature as used, in the sign-in's own transaction: a row (UsedSignature),
    not a cache entry a flood of other requests can evict, and gone with the sign-in if that
    fails. A second use, however concurrent, hits the unique constraint."""
    expires = timezone.now() + timedelta(
        seconds=settings.SUPPORTDESK_IDENTITY_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS
    )
    try:
        with transaction.atomic():  # a savepoint: the sign-in's transaction stays usable
            UsedSignature.objects.create(
                inbox=inbox, signature=identity.signature, expires_at=expires
            )
    except IntegrityError:
        raise SignatureUsed from None


def _link(*, inbox: Inbox, current: Visitor | None, identity: Identity) -> Visitor:
    known = (
        Visitor.objects.select_for_update()
        .filter(inbox=inbox, external_id=identity.user_id)
        .first()
    )
    anonymous = current if current is not None and not current.external_id else None
    if known is None:
        known = anonymous or Visitor(inbox=inbox)
        known.external_id = identity.user_id
    elif anonymous is not None:
        _hand_over(anonymous, to=known)
    return _refresh(known, identity)


def _hand_over(anonymous: Visitor, *, to: Visitor) -> None:
    """The anonymous visitor's conversations join the signed-in one. Only one conversation of a
    visitor may be open: if both have one, the anonymous one is ended first (its history stays,
    among the earlier conversations)."""
    open_one = to.conversations.exclude(status=Conversation.Status.ENDED).exists()
    for conversation in anonymous.conversations.exclude(status=Conversation.Status.ENDED):
        if open_one:
            locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
            end_locked(locked, system_line(SIGNED_IN_LINE))
    anonymous.conversations.update(visitor=to)


def _refresh(visitor: Visitor, identity: Identity) -> Visitor:
    visitor.identity_verified_at = timezone.now()
    if identity.email:
        visitor.email = identity.email
    if identity.name:
        visitor.name = identity.name
    visitor.save()
    return visitor
