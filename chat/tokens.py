"""Visitor identity: a signed token the widget keeps in the iframe's localStorage.

Third-party cookies are blocked by today's browsers, so the widget sends the token itself, in the
`X-Visitor-Token` header of every request and in the socket's query string. The token is signed
with SECRET_KEY and a salt of its own, names the visitor and the inbox, and expires after
SUPPORTDESK_VISITOR_TOKEN_MAX_AGE seconds.
"""

from __future__ import annotations

from typing import NamedTuple

from django.conf import settings
from django.core import signing

from chat.models import Visitor

SALT = "supportdesk.visitor-token"


class InvalidVisitorToken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def visitor_token(visitor: Visitor) -> str:
    return signing.dumps({"v": visitor.pk, "i": visitor.inbox_id}, salt=SALT, compress=True)


class TokenClaims(NamedTuple):
    visitor_id: int
    inbox_id: int


def token_claims(token: str) -> TokenClaims:
    """Who a genuine, unexpired token names, without asking the database whether that visitor
    (still) exists: `visitor_from_token` does, and the message path does it in its own
    statement (chat.posting)."""
    if not token:
        raise InvalidVisitorToken("missing")
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.SUPPORTDESK_VISITOR_TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise InvalidVisitorToken("expired") from exc
    except signing.BadSignature as exc:
        raise InvalidVisitorToken("invalid") from exc
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get("v"), int)
        or not isinstance(claims.get("i"), int)
    ):
        raise InvalidVisitorToken("invalid")
    return TokenClaims(claims["v"], claims["i"])


def visitor_from_token(token: str, *, public_key: str) -> Visitor:
    """The visitor a token names, if it is genuine, unexpired and for the inbox `public_key`."""
    return visitor_for_claims(token_claims(token), public_key=public_key)


def visitor_for_claims(claims: TokenClaims, *, public_key: str) -> Visitor:
    """The visitor `claims` name, if they exist and belong to the inbox `public_key`."""
    visitor = (
        Visitor.objects.select_related("inbox")
        .filter(pk=claims.visitor_id, inbox_id=claims.inbox_id)
        .first()
    )
    # The key is compared here, not in the query: it comes from the URL, and PostgreSQL refuses a
    # NUL in a query (a 500 where a 401 belongs).
    if visitor is None or visitor.inbox.public_key != public_key:
        raise InvalidVisitorToken("unknown")
    return visitor
