"""The sockets of this server process, and the work done for all of them at once.

An idle socket should cost what the least relay's does: answering its heartbeat. Everything a
socket must check from time to time (did a doorbell get lost, does its session still hold, is
its agent still present) is done here once per process for all sockets, on a timer of its
own: one query for every followed conversation, one UPDATE for every dashboard's presence, not
one per socket (docs/PERFORMANCE.md measured 173-188 statements a second from 2,000 idle
sockets doing it each for itself).

A job is a coroutine registered under a name with an interval (`every`); the hub starts it when
the process opens its first socket and runs it while the process has sockets. What a job finds
for a socket is handed to that socket as an event in its own queue (`nudge`), so it is handled
in the socket's own task, in order with everything else the socket does. Tests run a job at
once with `run`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

from django.conf import settings

logger = logging.getLogger(__name__)


class Socket(Protocol):
    def nudge(self, event: dict[str, Any]) -> None: ...


S = TypeVar("S")

Job = Callable[["Hub"], Awaitable[None]]
_jobs: dict[str, tuple[Callable[[], float], Job]] = {}


def every(name: str, interval: Callable[[], float]) -> Callable[[Job], Job]:
    """Register `job` to run every `interval()` seconds (read each time: settings may change)."""

    def register(job: Job) -> Job:
        _jobs[name] = (interval, job)
        return job

    return register


class Hub:
    """One per event loop (a server process has one; tests have one per test)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: set[Any] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # What the probes last found (`probe`): "realtime", whether the channel layer carries a
        # ring from this process back to it; "database", whether a pooled connection answers.
        self.health: dict[str, bool] = {}
        self.frozen_at = 0  # how many sockets were open at the last `gc.freeze` (`settle`)

    def add(self, socket: Socket) -> None:
        self.sockets.add(socket)
        for name in _jobs:
            task = self.tasks.get(name)
            if task is None or task.done():
                self.tasks[name] = self.loop.create_task(self._repeat(name), name=f"hub-{name}")

    def discard(self, socket: Socket) -> None:
        self.sockets.discard(socket)

    def of(self, kind: type[S]) -> Iterator[S]:
        """The open sockets of one class (and its subclasses)."""
        return (socket for socket in list(self.sockets) if isinstance(socket, kind))

    async def run(self, name: str) -> None:
        """Run job `name` now (tests; the timers call it too)."""
        await _jobs[name][1](self)

    async def _repeat(self, name: str) -> None:
        interval = _jobs[name][0]
        while self.sockets:
            await asyncio.sleep(interval())
            try:
                await self.run(name)
            except Exception:
                logger.exception("socket job %s failed", name)
        self.tasks.pop(name, None)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """The running loop's hub."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for closed in [other for other in _hubs if other.is_closed()]:
            del _hubs[closed]
        found = _hubs[loop] = Hub(loop)
    return found


PROBE_TIMEOUT_SECONDS = 2.0


async def probe(sockets: Hub, part: str, check: Callable[[], Awaitable[str]]) -> None:
    """Run `check` for the sockets that show the desk's health (`watches_path`: the dashboards)
    and, when its answer changed, tell them in their own tasks (`socket.health`: they say it
    with each heartbeat's answer meanwhile). `sockets.health[part]`: True, False, or absent
    before the first probe."""
    watchers = [socket for socket in list(sockets.sockets) if getattr(socket, "watches_path", 0)]
    if not watchers:
        return
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await check()
        up = True
    except Exception as exc:
        up = False
        if sockets.health.get(part) is not False:
            logger.warning(
                "%s probe failed: %s",
                part,
                type(exc).__name__,
                extra={"event": f"socket.{part}_down"},
            )
    if up is not sockets.health.get(part):
        sockets.health[part] = up
        for socket in watchers:
            socket.nudge({"type": "socket.health", "part": part, "up": up})


@every("path", lambda: min(5.0, settings.SUPPORTDESK_HEARTBEAT_SECONDS / 2))
async def probe_path(sockets: Hub) -> None:
    """Ring this process through the channel layer (Redis) and wait for the ring to come back,
    as every doorbell comes (`supportdesk.health.check_channel_layer`, the same probe /readyz
    makes): part "realtime"."""
    from supportdesk.health import check_channel_layer

    await probe(sockets, "realtime", check_channel_layer)


@every("database", lambda: min(5.0, settings.SUPPORTDESK_HEARTBEAT_SECONDS / 2))
async def probe_database(sockets: Hub) -> None:
    """`SELECT 1` on a connection from the pool the sockets use (the /readyz check): part
    "database". While it fails, the dashboards name the database as what is down, not the
    real-time service (issue 15, D5)."""
    from supportdesk.health import check_database

    await probe(sockets, "database", check_database)


FREEZE_GROWTH = 0.1  # freeze again once the open sockets grew by this share...
FREEZE_AT_LEAST = 50  # ...and by at least this many


@every("collector", lambda: 10.0)
async def settle(sockets: Hub) -> None:
    """Keep Python's cyclic collector off the sockets. Thousands of open sockets are hundreds of
    thousands of long-lived objects, and every full collection walked them all: a pause of
    0.4-2 s every few seconds under load, which set the p99 (docs/PERFORMANCE.md). After a wave
    of new sockets, `gc.freeze()` moves everything alive into a generation the collector no
    longer visits. Objects of sockets that close later are still freed by their reference
    counts; only cycles among them stay until the process restarts, which the freeze-once-per-
    wave rhythm keeps small (measured in docs/PERFORMANCE.md). SUPPORTDESK_GC_FREEZE=0 turns
    it off."""
    if not settings.SUPPORTDESK_GC_FREEZE:
        return
    count = len(sockets.sockets)
    if count - sockets.frozen_at >= max(FREEZE_AT_LEAST, sockets.frozen_at * FREEZE_GROWTH):
        gc.freeze()
        sockets.frozen_at = count
        logger.info(
            "froze %d objects with %d sockets open",
            gc.get_freeze_count(),
            count,
            extra={"event": "gc.freeze"},
        )
