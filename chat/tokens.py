"""Visitor identity: a signed token the widget keeps in the iframe's localStorage.

Third-party cookies are blocked by today's browsers, so the widget sends the token itself, in the
`X-Visitor-Token` header of every request and in the socket's query string. The token is signed
with SECRET_KEY and a salt of its own, names the visitor and the inbox, and expires after
SUPPORTDESK_VISITOR_TOKEN_MAX_AGE seconds.
"""

from __future__ import annotations

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


def visitor_from_token(token: str, *, public_key: str) -> Visitor:
    """The visitor a token names, if it is genuine, unexpired and for the inbox `public_key`."""
    if not token:
        raise InvalidVisitorToken("missing")
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.SUPPORTDESK_VISITOR_TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise InvalidVisitorToken("expired") from exc
    except signing.BadSignature as exc:
        raise InvalidVisitorToken("invalid") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("v"), int):
        raise InvalidVisitorToken("invalid")
    visitor = (
        Visitor.objects.select_related("inbox")
        .filter(pk=claims["v"], inbox_id=claims.get("i"))
        .first()
    )
    # The key is compared here, not in the query: it comes from the URL, and PostgreSQL refuses a
    # NUL in a query (a 500 where a 401 belongs).
    if visitor is None or visitor.inbox.public_key != public_key:
        raise InvalidVisitorToken("unknown")
    return visitor
