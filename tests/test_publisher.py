"""supportdesk.publisher: a request's thread queues its rings and goes on; the process's
publisher sends them in order, and a Redis that hangs holds nobody up."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer

from supportdesk import metrics, publisher


def dropped(reason: str) -> float:
    """How many rings the process gave up on for `reason` (this counter's samples only: the
    registry's other collectors read the database)."""
    for metric in metrics.RINGS_DROPPED.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels == {"reason": reason}:
                return sample.value
    return 0.0


async def test_rings_from_request_threads_go_out_in_commit_order(layer_on_private_redis) -> None:
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add("inbox.1", listener)
    publisher.serve_on(asyncio.get_running_loop())

    def commit_many() -> None:  # as a request thread publishes its on-commit rings
        for n in range(50):
            publisher.publish(["inbox.1"], {"type": "t", "n": n})

    await sync_to_async(commit_many, thread_sensitive=False)()
    received = [await asyncio.wait_for(layer.receive(listener), 5) for _ in range(50)]
    assert [m["n"] for m in received] == list(range(50))
    await layer.flush()


async def test_a_hung_redis_holds_no_request_thread(layer_on_private_redis, caplog) -> None:
    """Redis frozen (SIGSTOP): the thread that committed goes on at once (it would hang for the
    publish timeout if it waited), and the failed round is logged once Redis stays silent."""
    redis = layer_on_private_redis
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add("inbox.1", listener)
    publisher.serve_on(asyncio.get_running_loop())
    dropped_before = dropped("redis")
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        await sync_to_async(publisher.publish, thread_sensitive=False)(
            ["inbox.1"], {"type": "t", "n": "frozen"}
        )
        # The thread is back while its ring has not left (a thread that waited for it would
        # have come back only once the round failed).
        assert publisher.in_flight()
        await asyncio.wait_for(publisher.flush(), 10)  # the round is given up after its timeout
        assert any("publish of t" in r.getMessage() for r in caplog.records)
        assert dropped("redis") == dropped_before + 1  # and counted
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    publisher.publish(["inbox.1"], {"type": "t", "n": "after"})
    while True:  # the frozen round's ring may still arrive first, or never: the doorbell's way
        message = await asyncio.wait_for(layer.receive(listener), 10)
        if message["n"] == "after":
            break
    await layer.flush()


def test_without_a_server_loop_a_publish_rings_at_once(settings, caplog) -> None:
    """A management command or a test's own code: no server loop, the ring goes (and waits)
    as before; with no channel layer reachable it is logged, never raised."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "supportdesk.layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    channel_layers.backends.clear()
    try:
        publisher.publish(["inbox.1"], {"type": "t"})
    finally:
        channel_layers.backends.clear()
    assert any("publish of t" in r.getMessage() for r in caplog.records)


async def test_sync_code_called_from_async_code_rings_too(layer_on_private_redis, caplog) -> None:
    """A model's save in code that runs an event loop of its own (Playwright's sync API in the
    browser tests) publishes on commit from a thread with a running loop that is not the
    server's: the ring goes all the same (async_to_sync alone refuses such a thread), in order,
    through one ringing thread however many rings there are."""
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add("agent.1", listener)
    elsewhere = asyncio.new_event_loop()  # the server's loop, not running in this process
    publisher.serve_on(elsewhere)
    try:
        for n in range(5):
            publisher.publish(["agent.1"], {"type": "t", "n": n})
    finally:
        elsewhere.close()
    received = [await asyncio.wait_for(layer.receive(listener), 5) for _ in range(5)]
    assert [m["n"] for m in received] == list(range(5))
    ringers = [t for t in threading.enumerate() if t.name.startswith("supportdesk-ringer")]
    assert len(ringers) == 1
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    await layer.flush()
