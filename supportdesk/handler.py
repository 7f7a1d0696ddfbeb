"""HTTP through Django in one thread hop, with a bound on how much waits for a thread.

Django's own ASGI handler runs a project of sync middleware and sync views with a thread hop
per boundary: the request-started signal, each `MiddlewareMixin` on the way in and out, the
view, the finished signal, every one a trip from the event loop to a thread of the request's
own and back (asgiref's per-request "thread-sensitive" context). Nothing bounds how many
requests do that at once: under load the server went from 19 threads to 1,885, and the
database pool ran dry (docs/PERFORMANCE.md).

`ThreadedHandler` runs the whole request as a WSGI server would: Django's sync handler (the
same middleware and views, loaded in sync mode), in one hop to a fixed pool of
SUPPORTDESK_HTTP_THREADS threads. Each thread keeps its own database connection for one request
and hands it back to the pool when the request ends (Django's request_finished signal), in the
thread, before the response is even sent. Publishing never waits in that thread either
(supportdesk.publisher).

Admission: at most SUPPORTDESK_HTTP_QUEUE requests wait for a thread. Beyond that the request
is answered at once, on the event loop, with `503 Service Unavailable` and `Retry-After: 1`:
the widget's and the dashboard's outbox wait and send the same message again (its `client_id`
stores it once), and an overloaded desk stays fast for what it admits instead of slow for all.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase, JsonResponse
from django.urls import set_script_prefix

from supportdesk import metrics

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


class ThreadedHandler(ASGIHandler):
    """Django's ASGI handler with the sync middleware chain, run in one hop per request."""

    def __init__(self) -> None:
        BaseHandler.__init__(self)  # not ASGIHandler's: that loads the middleware async
        self.load_middleware(is_async=False)
        self.threads = ThreadPoolExecutor(
            max_workers=settings.SUPPORTDESK_HTTP_THREADS, thread_name_prefix="http"
        )
        # Requests handed to the threads and not yet answered; touched on the loop only.
        self.admitted = 0
        self.limit = settings.SUPPORTDESK_HTTP_THREADS + settings.SUPPORTDESK_HTTP_QUEUE

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}")
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.admitted >= self.limit:
            metrics.HTTP_REFUSED.inc()
            await self.send_response(busy(), send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        self.admitted += 1
        try:
            # A fresh context per request, as a task would have: nothing a request sets in a
            # context variable (its id, its language) is seen by the next one on that thread.
            context = contextvars.Context()
            response = await loop.run_in_executor(
                self.threads, context.run, self.respond, scope, body_file
            )
        finally:
            self.admitted -= 1
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:  # a file: closed (and the request finished) once it is sent
                await loop.run_in_executor(self.threads, response.close)
            body_file.close()

    def respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """The whole request, in a thread of the pool: what a WSGI server's thread does."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request: ASGIRequest | None
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__  # type: ignore[union-attr]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            # request_finished: the database connection goes back to the pool now, in this
            # thread, not after the response has crossed the network.
            response.close()
        return response


def busy() -> JsonResponse:
    """The answer to a request that found the queue full."""
    response = JsonResponse(
        {
            "error": "busy",
            "message": "The desk is busy; try again in a moment.",
            "retry_after": RETRY_AFTER_SECONDS,
        },
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
