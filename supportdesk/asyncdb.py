"""Database work from async code (the socket consumers), run side by side.

Channels' `database_sync_to_async` and Django's async ORM methods (`aget`, `aexists`, ...) default
to `thread_sensitive=True`: every such call of every socket of a server process then runs in one
thread, one after another. Under load that thread was the desk's bottleneck (docs/PERFORMANCE.md):
a few hundred sockets' heartbeats, resumes and list refreshes queued behind each other, and
messages waited seconds for them.

`database` runs the call on the event loop's thread pool instead. Each pool thread has its own
connection (from the psycopg pool on PostgreSQL), and Channels' wrapper closes it after the call,
which hands it back to the pool. One socket's calls still run in order: its consumer awaits each
before the next. Use it for every database call made from a consumer; code that needs a
thread-sensitive call (one that shares a connection with the HTTP request, say) keeps
`database_sync_to_async`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


def database(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func`, awaitable, run on the loop's thread pool with Channels' connection handling."""
    return database_sync_to_async(func, thread_sensitive=False)  # type: ignore[return-value]
