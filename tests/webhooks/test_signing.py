"""The signature, and the verification snippet of docs/API.md run against a real delivery."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from chat.models import Visitor
from chat.services import visitor_message_send
from tests.webhooks.conftest import Receiver
from webhooks import signing
from webhooks.models import WebhookEndpoint
from webhooks.outbox import deliveries_send_due

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def documented_verify():
    """The Python snippet under "Headers and the signature" in docs/API.md, as a function."""
    section = API_DOC.read_text().split("### Headers and the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    namespace: dict = {}
    exec(compile(code.group(1), str(API_DOC), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


@pytest.mark.django_db
def test_the_documented_snippet_verifies_a_real_delivery_and_refuses_a_forgery(
    visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    verify = documented_verify()
    visitor_message_send(visitor=visitor, body="Hello", client_id=uuid.uuid4())
    deliveries_send_due()
    request = receiver.wait_for(2)[1]
    assert verify(endpoint.secret, request.body, request.headers)
    assert not verify("whsec_wrong", request.body, request.headers)
    assert not verify(endpoint.secret, request.body.replace(b"Hello", b"Hallo"), request.headers)
    stale = int(request.headers[signing.TIMESTAMP_HEADER]) - 301
    replayed = {
        **request.headers,
        signing.TIMESTAMP_HEADER: str(stale),
        signing.SIGNATURE_HEADER: signing.signature(endpoint.secret, stale, request.body),
    }
    assert not verify(endpoint.secret, request.body, replayed)


def test_the_signature_is_over_the_timestamp_and_the_body() -> None:
    body = b'{"id":"x"}'
    now = int(time.time())
    header = signing.signature("whsec_s", now, body)
    assert header.startswith("v1=")
    assert signing.verify(secret="whsec_s", body=body, timestamp=str(now), signature_header=header)
    assert signing.verify(
        secret="whsec_s", body=body, timestamp=str(now), signature_header=f"v0=abc {header}"
    )
    assert not signing.verify(
        secret="whsec_s", body=body + b" ", timestamp=str(now), signature_header=header
    )
    assert not signing.verify(
        secret="whsec_s", body=body, timestamp=str(now + 1), signature_header=header
    )
