"""Visitor identity: a signed token the widget keeps in the iframe's localStorage.

Third-party cookies are blocked by today's browsers, so the widget sends the token itself: in
the `X-Visitor-Token` header of every request, and when it opens its socket as one of the
socket's subprotocols (`protocols_for`), never in a URL that a proxy's access log would keep.
The token is signed with SECRET_KEY and a salt of its own, names the visitor, the inbox and the
visitor's token generation, and expires after SUPPORTDESK_VISITOR_TOKEN_MAX_AGE seconds.

A token older than SUPPORTDESK_VISITOR_TOKEN_ROTATE_SECONDS is replaced when the widget's
socket opens with it (a `token` frame), so a visitor who comes back keeps their chat while a
copied token stops working at its max age. An admin's "Sign out everywhere"
(`chat.services.visitor_sessions_revoke`) counts the visitor's generation up: every token
issued before is refused at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings
from django.core import signing

from chat.models import Visitor

SALT = "supportdesk.visitor-token"

# The widget socket's subprotocol, and the second one it offers, which carries the token: a
# subprotocol is an HTTP token, which allows no ':', so the token's ':' travel as '~'.
SUBPROTOCOL = "supportdesk.v1"
TOKEN_PROTOCOL_PREFIX = "token."  # noqa: S105 - a prefix, not a secret


class InvalidVisitorToken(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def visitor_token(visitor: Visitor) -> str:
    claims = {"v": visitor.pk, "i": visitor.inbox_id, "g": visitor.token_generation}
    return signing.dumps(claims, salt=SALT, compress=True)


def protocols_for(token: str) -> list[str]:
    """The subprotocols a widget socket offers to present `token` (static/supportdesk/
    widget-frame.js does the same)."""
    return [SUBPROTOCOL, TOKEN_PROTOCOL_PREFIX + token.replace(":", "~")]


def token_from_protocols(protocols: Sequence[str]) -> str:
    """The token a socket offered among its subprotocols, or "" if none."""
    for protocol in protocols:
        if protocol.startswith(TOKEN_PROTOCOL_PREFIX):
            return protocol.removeprefix(TOKEN_PROTOCOL_PREFIX).replace("~", ":")
    return ""


class TokenClaims(NamedTuple):
    visitor_id: int
    inbox_id: int
    generation: int = 0  # tokens issued before generations existed are of the first
    issued_at: float = 0.0  # when the token was signed (Unix time)

    def due_for_rotation(self) -> bool:
        """Whether the token is old enough to be replaced by a fresh one."""
        age = time.time() - self.issued_at
        return age > settings.SUPPORTDESK_VISITOR_TOKEN_ROTATE_SECONDS


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
    if not isinstance(claims, dict) or not all(
        isinstance(claims.get(name, 0), int) for name in ("v", "i", "g")
    ):
        raise InvalidVisitorToken("invalid")
    if "v" not in claims or "i" not in claims:
        raise InvalidVisitorToken("invalid")
    # Genuine (the signature held), so its timestamp is the one the desk wrote.
    issued_at = signing.b62_decode(token.rsplit(":", 2)[1])
    return TokenClaims(claims["v"], claims["i"], claims.get("g", 0), issued_at)


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
    if visitor.token_generation != claims.generation:
        raise InvalidVisitorToken("revoked")
    return visitor
