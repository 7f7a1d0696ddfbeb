"""SSRF: webhooks go only to public addresses unless the server and the endpoint both allow
private ones; the address checked is the one connected to."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chat.models import Inbox, Visitor
from chat.services import visitor_message_send
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import deliveries_send_due
from webhooks.targets import UnsafeTarget, resolve

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://localhost/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",  # unique local
    "http://[fe80::1]/hook",  # link local
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://224.0.0.1/hook",  # multicast
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_loopback_and_link_local_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="non-public"):
        resolve(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "file:///etc/passwd", "http:///nohost", "gopher://x/"]
)
def test_only_http_and_https_urls_with_a_host(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        resolve(url, allow_private=True)


def test_a_public_address_is_connected_to_as_checked() -> None:
    target = resolve("https://93.184.215.14:8443/a/b?c=d", allow_private=False)
    assert target.url == "https://93.184.215.14:8443/a/b?c=d"
    assert target.host == "93.184.215.14:8443"
    assert target.ip == "93.184.215.14"


def test_the_request_goes_to_the_checked_address_with_the_name_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name is resolved once, checked, and the address connected to: a DNS answer changed
    after the check (rebinding) is never asked for."""
    answers = iter([[(2, 1, 6, "", ("93.184.215.14", 443))]])
    monkeypatch.setattr(
        "webhooks.targets.socket.getaddrinfo", lambda *args, **kwargs: next(answers)
    )
    target = resolve("https://hooks.example.com/in", allow_private=False)
    assert target.url == "https://93.184.215.14:443/in"
    assert target.host == "hooks.example.com"
    assert target.sni_hostname == "hooks.example.com"


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "webhooks.targets.socket.getaddrinfo",
        lambda *args, **kwargs: [
            (2, 1, 6, "", ("93.184.215.14", 80)),
            (2, 1, 6, "", ("10.1.2.3", 80)),
        ],
    )
    with pytest.raises(UnsafeTarget, match=r"10\.1\.2\.3"):
        resolve("http://mixed.example.com/", allow_private=False)


@pytest.mark.django_db
@pytest.mark.parametrize(("server_allows", "endpoint_allows"), [(False, True), (True, False)])
def test_a_loopback_receiver_gets_nothing_unless_both_allow_it(
    settings: Any,
    inbox: Inbox,
    visitor: Visitor,
    receiver: Receiver,
    server_allows: bool,
    endpoint_allows: bool,
) -> None:
    settings.SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE = server_allows
    WebhookEndpoint.objects.create(
        inbox=inbox, url=receiver.url, allow_private_network=endpoint_allows
    )
    visitor_message_send(visitor=visitor, body="Hello", client_id=uuid.uuid4())
    deliveries_send_due()
    assert receiver.requests == []
    row = WebhookDelivery.objects.get(event="conversation.created")
    assert row.state == WebhookDelivery.State.PENDING
    assert "non-public" in row.last_error
