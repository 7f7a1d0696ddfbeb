"""Ringing channel-layer groups from any thread, without waiting for the ring to go out.

A write announces itself when its transaction commits (`chat.events.publish_on_commit`). That
callback runs in the request's thread, right after COMMIT, while the thread still holds its
database connection. Waiting there for the layer (a round trip to Redis, behind channels-redis's
one lock per process) kept connections out of the pool until the pool ran dry under load
(docs/PERFORMANCE.md). So `publish` only queues the event for this process's publisher: a task
on the server's event loop that sends everything queued since its last round in one go (one
pipelined round trip with `supportdesk.layers.RedisPubSubChannelLayer`).

- Order: one FIFO queue per process, so the events of a conversation leave in the order their
  transactions committed in this process (consumers put events from several processes in order
  by `seq` themselves).
- Loss: the database is the record and the layer only a doorbell. A round that fails (Redis
  down or hung) is logged, counted (`supportdesk_rings_dropped`) and dropped; sockets find what
  they missed when they resync. Nothing here raises into the caller (a consumer, a request).
- Without a server loop (a management command, a test's own code, the first request before the
  process served anything) `publish` rings at once and waits, as before.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from supportdesk import metrics

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0  # one round may take this long before it counts as failed
MAX_QUEUED = 50_000  # a hung Redis must not grow the queue without bound: the oldest go first

Ring = tuple[list[str], Mapping[str, Any]]

_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: int | None = None
_queue: deque[Ring] = deque()
_task: asyncio.Task[None] | None = None
# Rings from sync code on a thread with a foreign running loop go through this one thread
# (made on first use), not a new executor per call.
_ringer: ThreadPoolExecutor | None = None
_ringer_lock = threading.Lock()


def serve_on(loop: asyncio.AbstractEventLoop) -> None:
    """The server's event loop, where the publisher runs: called by every ASGI request and
    socket (supportdesk.process), so a loop that replaced another (tests) takes over."""
    global _loop, _loop_thread, _task
    if loop is not _loop:
        _loop, _loop_thread, _task = loop, threading.get_ident(), None
        _queue.clear()


def publish(groups: list[str], event: Mapping[str, Any]) -> None:
    """Ring `groups` with `event`, from any thread. Never raises and never waits for Redis."""
    loop = _loop
    if loop is not None and loop.is_running():
        try:
            if threading.get_ident() == _loop_thread:
                _enqueue(groups, event)
            else:
                loop.call_soon_threadsafe(_enqueue, groups, event)
            return
        except RuntimeError:  # the loop closed just now: ring the slow way
            pass
    try:
        if _has_running_loop():
            # Sync code called straight from async code (Playwright's sync API in tests):
            # async_to_sync refuses a thread with a running loop, so ring from another one.
            _foreign_loop_ringer().submit(async_to_sync(send_to_groups), groups, event).result()
        else:
            async_to_sync(send_to_groups)(groups, event)
    except Exception:
        logger.exception("publish of %s to %s failed", event.get("type"), groups)


def _foreign_loop_ringer() -> ThreadPoolExecutor:
    global _ringer
    with _ringer_lock:
        if _ringer is None:
            _ringer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="supportdesk-ringer")
        return _ringer


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def in_flight() -> bool:
    """Whether rings are queued or on their way (on the loop's thread)."""
    return bool(_queue) or (_task is not None and not _task.done())


async def flush() -> None:
    """Wait until every queued ring went out or its round failed (tests; a server stopping)."""
    while _task is not None and not _task.done():
        await asyncio.shield(_task)


def _enqueue(groups: list[str], event: Mapping[str, Any]) -> None:
    """On the loop: queue the ring and make sure the publisher runs."""
    global _task
    if len(_queue) >= MAX_QUEUED:
        dropped = _queue.popleft()
        metrics.RINGS_DROPPED.labels(reason="queue_full").inc(len(dropped[0]))
        logger.warning("publisher queue full: dropped the oldest ring (%s)", dropped[1].get("type"))
    _queue.append((groups, event))
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_drain(), name="supportdesk-publisher")


async def _drain() -> None:
    """Send what is queued, a round at a time, until nothing is left."""
    while _queue:
        batch = [_queue.popleft() for _ in range(len(_queue))]
        rings = [(group, event) for groups, event in batch for group in groups]
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                await send_many(rings)
        except Exception:
            metrics.RINGS_DROPPED.labels(reason="redis").inc(len(rings))
            kinds = sorted({str(event.get("type")) for _, event in rings})
            logger.exception("publish of %s to %d groups failed", ", ".join(kinds), len(rings))


async def send_many(rings: list[tuple[str, Mapping[str, Any]]]) -> None:
    """Each (group, event) through the layer: in one pipeline where the layer can."""
    layer = get_channel_layer()
    if layer is None:
        return
    many = getattr(layer, "group_send_many", None)
    if many is not None:
        await many([(group, dict(event)) for group, event in rings])
        return
    for group, event in rings:
        await layer.group_send(group, dict(event))


async def send_to_groups(groups: list[str], event: Mapping[str, Any]) -> None:
    """Ring `groups` now and wait until it went out (async code that must know: consumers)."""
    async with asyncio.timeout(TIMEOUT_SECONDS):
        await send_many([(group, event) for group in groups])
