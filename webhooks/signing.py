"""The signature on every delivery (docs/API.md, "Verifying a delivery").

`Supportdesk-Webhook-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, with the
timestamp (Unix seconds, of this attempt) in `Supportdesk-Webhook-Timestamp`: a receiver that
also refuses old timestamps cannot be fed a recorded delivery again later. `v1=` names the
scheme, so another can be added beside it without breaking receivers.
"""

from __future__ import annotations

import hashlib
import hmac
import time

ID_HEADER = "Supportdesk-Webhook-Id"
TIMESTAMP_HEADER = "Supportdesk-Webhook-Timestamp"
SIGNATURE_HEADER = "Supportdesk-Webhook-Signature"
EVENT_HEADER = "Supportdesk-Webhook-Event"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(*, secret: str, event_id: str, event: str, body: bytes, timestamp: int) -> dict:
    """Every header of a delivery but the transport's own."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "Supportdesk-Webhooks/1",
        ID_HEADER: event_id,
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    *, secret: str, body: bytes, timestamp: str, signature_header: str, now: float | None = None
) -> bool:
    """What a receiver does (the same as docs/API.md's snippet; the tests' receiver uses it):
    a `v1=` signature among the header's space-separated ones matches, and the timestamp is
    within TOLERANCE_SECONDS of now."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent_at) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, sent_at, body)
    return any(hmac.compare_digest(expected, given) for given in signature_header.split())
