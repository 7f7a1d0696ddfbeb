"""Database work from async code (the socket consumers), run side by side.

Channels' `database_sync_to_async` and Django's async ORM methods (`aget`, `aexists`, ...) default
to `thread_sensitive=True`: every such call of every socket of a server process then runs in one
thread, one after another. Under load that thread was the desk's bottleneck (docs/PERFORMANCE.md):
a few hundred sockets' heartbeats, resumes and list refreshes queued behind each other, and
messages waited seconds for them.

`database` runs the call on the event loop's thread pool instead. Each pool thread has its own
connection (from the psycopg pool on PostgreSQL), closed after every call, which hands it back
to the pool. (Not Channels' `DatabaseSyncToAsync`: its close is `channels.db.
close_old_connections`, which Channels' test communicators replace with a no-op, so under test
every pool thread kept its connection and the pool ran dry.) One socket's calls still run in
order: its consumer awaits each before the next. Use it for every database call made from a
consumer.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def database(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func`, awaitable, run on the loop's thread pool with a connection of its own."""

    @functools.wraps(func)
    def closing(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()  # one the thread kept from before, if broken or too old
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()  # back to the pool (CONN_MAX_AGE is 0 with the pool)

    return sync_to_async(closing, thread_sensitive=False)
