"""What a server process runs besides its requests and sockets, started by the first of them.

`ServerProcess` wraps the ASGI application (supportdesk.asgi): every request and socket makes
sure this process's publisher knows the event loop it serves on (supportdesk.publisher) and
that its stats sampling runs (supportdesk.stats). Both checks are a comparison when nothing
changed, so they cost nothing per request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from supportdesk import publisher, stats


class ServerProcess:
    """ASGI middleware: the process's background work, on the loop that serves."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        publisher.serve_on(asyncio.get_running_loop())
        stats.ensure_reporter()
        return await self.inner(scope, receive, send)
