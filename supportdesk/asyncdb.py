"""Database work from async code (the socket consumers), run side by side.

Channels' `database_sync_to_async` and Django's async ORM methods (`aget`, `aexists`, ...) default
to `thread_sensitive=True`: every such call of every socket of a server process then runs in one
thread, one after another. Under load that thread was the desk's bottleneck (docs/PERFORMANCE.md):
a few hundred sockets' heartbeats, resumes and list refreshes queued behind each other, and
messages waited seconds for them.

`database` runs the call on a thread pool of its own instead (SUPPORTDESK_DB_THREADS threads a
process; the loop's default pool has only CPU count + 4, and every socket's reads queued for
them). Each pool thread has its own connection (from the psycopg pool on PostgreSQL), closed
after every call, which hands it back to the pool. (Not Channels' `DatabaseSyncToAsync`: its
close is `channels.db.close_old_connections`, which Channels' test communicators replace with a
no-op, so under test every pool thread kept its connection and the pool ran dry.) One socket's
calls still run in order: its consumer awaits each before the next. Use it for every database
call made from a consumer.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def database(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func`, awaitable, run on the process's database threads, its connection closed after."""

    @functools.wraps(func)
    def closing(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()  # one the thread kept from before, if broken or too old
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()  # back to the pool (CONN_MAX_AGE is 0 with the pool)

    return sync_to_async(closing, thread_sensitive=False, executor=_threads())


_executor: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    """The process's database threads, made on first use (after settings are read)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.SUPPORTDESK_DB_THREADS, thread_name_prefix="database"
        )
    return _executor


def drain() -> None:
    """Wait for the calls in flight on the database threads to finish; the next call makes new
    threads. For tests: work a consumer leaves running after its socket closed (a presence
    settling after the grace period) must not run into the test database's flush."""
    global _executor
    if _executor is not None:
        _executor.shutdown(wait=True)
        _executor = None
