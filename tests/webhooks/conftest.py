"""Webhook tests: a real HTTP receiver (http.server in a thread of the test, on a free port of
127.0.0.1) that records every request and checks its signature, and an endpoint of the inbox
that points at it (a loopback address: allowed explicitly, by the server and the endpoint)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chat.models import Inbox
from webhooks import signing
from webhooks.models import WebhookEndpoint
from webhooks.outbox import deliveries_worker_stop
from webhooks.selectors import active_inboxes_forget


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature checks out with the endpoint's secret
    status: int  # what the receiver answered

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers[signing.ID_HEADER]


class Receiver:
    """A webhook receiver: answers `status` (or 500 for the next `fail_next` requests), after
    waiting for `hold` to be set (a slow receiver); every request is recorded."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/supportdesk?source=test"
        self.secret = ""  # set by the endpoint fixture, to check signatures
        self.requests: list[Received] = []
        self.status = 200
        self.fail_next = 0
        self.hold = threading.Event()
        self.hold.set()
        self.changed = threading.Condition()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                signed = signing.verify(
                    secret=receiver.secret,
                    body=body,
                    timestamp=headers.get(signing.TIMESTAMP_HEADER, ""),
                    signature_header=headers.get(signing.SIGNATURE_HEADER, ""),
                )
                with receiver.changed:
                    status = receiver.status
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                    receiver.requests.append(Received(headers, body, signed, status))
                    receiver.changed.notify_all()
                receiver.hold.wait(60)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: the port refuses connections."""
        if self.server is not None:
            self.hold.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (a condition, not a sleep)."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"{len(self.requests)} of {count} requests arrived"
            )
            return list(self.requests)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status < 300]

    def events(self) -> list[dict[str, Any]]:
        """What a receiver that de-duplicates on the id keeps, in arrival order."""
        seen: set[str] = set()
        kept = []
        for request in self.accepted():
            if request.id not in seen:
                seen.add(request.id)
                kept.append(request.json)
        return kept


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_allowed(settings: Any) -> None:
    """The server lets endpoints that say so reach private addresses (the receiver's 127.0.0.1)."""
    settings.SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def endpoint(inbox: Inbox, receiver: Receiver, private_allowed: None) -> WebhookEndpoint:
    created = WebhookEndpoint.objects.create(
        inbox=inbox, url=receiver.url, allow_private_network=True
    )
    receiver.secret = created.secret
    return created


@pytest.fixture(autouse=True)
def send_only_when_told(settings: Any) -> Iterator[None]:
    """Deliveries go out when a test runs the outbox, not from the worker thread after each
    commit (tests of that turn it back on); and each test starts with no snapshot of which
    inboxes have endpoints (rows rolled back with an earlier test's transaction)."""
    settings.SUPPORTDESK_WEBHOOKS_SEND_AFTER_COMMIT = False
    active_inboxes_forget()
    yield
    deliveries_worker_stop()
    active_inboxes_forget()
