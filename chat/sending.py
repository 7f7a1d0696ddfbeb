"""What sending a message means, whatever carried it.

A message comes over HTTP (`chat.views.widget_send`, `agents.views.conversation_reply`) or as a
`send` frame over the socket the page already has open (`chat.consumers`, docs/PROTOCOL.md).
Both read the same two fields, store through the same functions (chat.posting's two statements,
else chat.services) and refuse with the same status, code and text: `parse`, `store` and
`Refused` are that one definition; each transport only turns a `Refused` into its own answer
(a JSON error response, or a `refused` frame).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from chat import posting, services
from chat.posting import Posted, posted
from chat.tokens import InvalidVisitorToken, TokenClaims, visitor_for_claims
from supportdesk import ratelimit

SLOW_DOWN = _("Too many requests; wait a moment and try again.")
TOO_FAST = _("You are sending messages too fast; wait a moment.")


class Refused(Exception):
    """A send that stored nothing: HTTP status, machine-readable code, text for a person, and
    for a rate limit the seconds to wait."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class Draft(NamedTuple):
    """A message as parsed, before it is stored: its cleaned text (empty if it carries files
    alone), the client's UUID, and the keys of the uploads it carries (chat.attachments)."""

    text: str
    client_id: uuid.UUID
    attachments: tuple[str, ...] = ()


def parse(body: object, client_id: object, attachments: object = None) -> Draft:
    """The draft, or `Refused` (400 for the id or the file keys, 422 for the text)."""
    try:
        if not isinstance(client_id, str):
            raise ValueError(client_id)
        key = uuid.UUID(client_id)
    except ValueError:
        raise Refused(400, "bad_client_id", "client_id must be a UUID.") from None
    keys = attachments if attachments is not None else []
    if not (isinstance(keys, list | tuple) and all(_is_key(k) for k in keys)):
        raise Refused(400, "bad_attachments", "attachments must be a list of file keys.")
    try:
        text = services.clean_body(body if isinstance(body, str) else "", allow_empty=bool(keys))
    except ValidationError as exc:
        raise Refused(422, exc.code or "invalid", " ".join(exc.messages)) from None
    return Draft(text, key, tuple(keys))


def _is_key(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()


def store(send: Callable[[Draft], Posted], draft: Draft) -> Posted:
    """`send(draft)`, its refusals as `Refused` (422 a rule, 409 an ended chat)."""
    try:
        return send(draft)
    except ValidationError as exc:
        raise Refused(422, exc.code or "invalid", " ".join(exc.messages)) from None
    except services.ConversationEnded as exc:
        raise Refused(409, "conversation_ended", str(exc)) from None


def visitor_post(*, claims: TokenClaims, public_key: str, draft: Draft) -> Posted:
    """The visitor's message, however it came: the fast path's two statements check the
    visitor, the token's generation and the inbox themselves (chat.posting); anything else (a
    first message, a new chat after an ended one, a retry, files) takes the full path.
    `InvalidVisitorToken` if the claims name no visitor of that inbox (deleted since) or the
    visitor was signed out since the token was issued."""
    if not draft.attachments:
        fast = posting.visitor_message_post(
            claims=claims, public_key=public_key, body=draft.text, client_id=draft.client_id
        )
        if fast is not None:
            return fast
    visitor = visitor_for_claims(claims, public_key=public_key)
    return posted(
        services.visitor_message_send(
            visitor=visitor,
            body=draft.text,
            client_id=draft.client_id,
            attachments=draft.attachments,
        )
    )


def invalid_token(exc: InvalidVisitorToken) -> Refused:
    """An expired, forged or orphaned visitor token: start a new session."""
    return Refused(401, f"token_{exc.reason}", "Your chat session is not valid; start again.")


def visitor_limits(ip: str, visitor_id: int, *limits: tuple[str, object]) -> None:
    """A visitor's request counts against the address, the visitor and any `limits` given for
    this visitor (name, text when spent), in one Redis round trip; `Refused` (429) if any is
    spent."""
    refused = ratelimit.hit_many(
        [("widget_ip", ip), ("visitor", visitor_id)] + [(name, visitor_id) for name, _ in limits]
    )
    if refused is not None:
        name, wait = refused
        text = dict(limits).get(name, SLOW_DOWN)
        raise Refused(429, "rate_limited", str(text), retry_after=wait)


MESSAGE_LIMIT = ("visitor_messages", TOO_FAST)  # a visitor's messages, on top of the rest
