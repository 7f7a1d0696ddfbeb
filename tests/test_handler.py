"""supportdesk.handler: Django in one hop per request, and a bound on what waits for a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from asgiref.testing import ApplicationCommunicator

from supportdesk import metrics
from supportdesk.handler import ThreadedHandler


def http_get(url: str) -> dict[str, Any]:
    """The ASGI scope of a GET of `url` (a path, with or without a query string)."""
    path, _, query = url.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def answer(request: ApplicationCommunicator) -> tuple[int, dict[bytes, bytes], bytes]:
    start = await request.receive_output(10)
    body = b""
    while True:
        part = await request.receive_output(10)
        body += part.get("body", b"")
        if not part.get("more_body"):
            return start["status"], dict(start["headers"]), body


async def test_beyond_the_threads_and_the_queue_a_request_is_told_to_come_back(settings) -> None:
    settings.SUPPORTDESK_HTTP_THREADS = 1
    settings.SUPPORTDESK_HTTP_QUEUE = 0  # one in a thread or waiting for one, no more
    handler = ThreadedHandler()
    hold = threading.Event()
    handler.threads.submit(hold.wait, 10)  # the only thread is busy
    refused_before = metrics.HTTP_REFUSED._value.get()

    first = ApplicationCommunicator(handler, http_get("/healthz"))  # waits for the thread
    await first.send_input({"type": "http.request", "body": b""})
    await asyncio.sleep(0.2)  # read and handed to the pool: admitted
    second = ApplicationCommunicator(handler, http_get("/healthz"))
    await second.send_input({"type": "http.request", "body": b""})
    try:
        status, headers, body = await answer(second)
        assert status == 503
        assert headers[b"Retry-After"] == b"1"
        assert json.loads(body)["error"] == "busy"
        assert metrics.HTTP_REFUSED._value.get() == refused_before + 1
    finally:
        hold.set()
    status, _, _ = await answer(first)
    assert status == 200  # admitted ones are served once a thread is free
    handler.threads.shutdown()
