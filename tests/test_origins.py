"""Sockets are opened only by pages of the desk's own origin: scheme, host and port (issue 16:
a page on http://127.0.0.1:9999 opened the agent socket with the agent's cookie and read a
chat; the check compared host names only)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from agents.models import Agent
from supportdesk import origins
from supportdesk.asgi import application
from tests.chat.test_consumers import session_cookie


def scope(origin: str | None, host: str = "testserver", scheme: str = "ws", **extra: str) -> Any:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://testserver", "testserver", "ws", True),
        ("http://TestServer:80", "testserver", "ws", True),  # the same origin, spelled out
        ("http://testserver:9999", "testserver", "ws", False),  # another port of the host
        ("http://testserver:8000", "testserver:8000", "ws", True),
        ("http://testserver", "testserver:8000", "ws", False),
        ("https://testserver", "testserver", "ws", False),  # another scheme
        ("https://testserver", "testserver", "wss", True),
        ("http://testserver", "testserver", "wss", False),
        ("http://evil.example", "testserver", "ws", False),
        ("http://evil.example", "evil.example", "ws", False),  # a host not in ALLOWED_HOSTS
        ("null", "testserver", "ws", False),  # a sandboxed frame, a file
        ("http://user@testserver", "testserver", "ws", False),
        ("http://testserver/path", "testserver", "ws", False),
        (None, "testserver", "ws", False),  # no Origin: not a browser
    ],
)
def test_only_the_desks_own_origin_may_open_a_socket(
    origin: str | None, host: str, scheme: str, allowed: bool
) -> None:
    assert origins.origin_allowed(scope(origin, host, scheme)) is allowed


def test_two_origin_headers_are_refused() -> None:
    doubled = scope("http://testserver")
    doubled["headers"].append((b"origin", b"http://evil.example"))
    assert not origins.origin_allowed(doubled)


def test_behind_a_tls_proxy_the_forwarded_scheme_counts_only_when_trusted(settings: Any) -> None:
    proxied = scope("https://testserver", **{"x-forwarded-proto": "https"})
    assert not origins.origin_allowed(proxied)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origins.origin_allowed(proxied)
    assert not origins.origin_allowed(scope("http://testserver", **{"x-forwarded-proto": "https"}))


def test_csrf_trusted_origins_may_open_sockets_too(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://desk.example.com"]
    assert origins.origin_allowed(scope("https://desk.example.com"))
    assert not origins.origin_allowed(scope("https://desk.example.com:8443"))


@pytest.mark.django_db(transaction=True)
async def test_a_page_on_another_port_cannot_open_the_agent_socket(
    agent: Agent, settings: Any
) -> None:
    """The finding, end to end: the agent's cookie, sent by a page on another port of the
    desk's host, gets no socket (the old check accepted it: same host name)."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    user = await sync_to_async(lambda: agent.user)()
    cookie = await sync_to_async(session_cookie)(user)
    headers = [(b"host", b"127.0.0.1:8000"), cookie]
    foreign = WebsocketCommunicator(
        application, "/ws/agents/", headers=[*headers, (b"origin", b"http://127.0.0.1:9999")]
    )
    connected, _ = await foreign.connect(timeout=5)
    assert not connected
    own = WebsocketCommunicator(
        application, "/ws/agents/", headers=[*headers, (b"origin", b"http://127.0.0.1:8000")]
    )
    connected, _ = await own.connect(timeout=5)
    assert connected
    await own.disconnect()
