"""supportdesk.layers: channels-redis's pub/sub layer without its publish lock, with pipelined
group sends and group messages decoded once, on a Redis of the test's own."""

from __future__ import annotations

import asyncio
from typing import Any

from supportdesk.layers import RedisPubSubChannelLayer


def layer_on(redis: Any) -> RedisPubSubChannelLayer:
    return RedisPubSubChannelLayer(hosts=[redis.url], prefix="layers-test")


async def test_group_send_many_reaches_every_member_in_order(private_redis: Any) -> None:
    layer = layer_on(private_redis)
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("one", a)
    await layer.group_add("one", b)
    await layer.group_add("two", b)
    await layer.group_send_many(
        [
            ("one", {"type": "t", "n": 1}),
            ("two", {"type": "t", "n": 2}),
            ("one", {"type": "t", "n": 3}),
        ]
    )
    got_a = [await asyncio.wait_for(layer.receive(a), 5) for _ in range(2)]
    got_b = [await asyncio.wait_for(layer.receive(b), 5) for _ in range(3)]
    assert [m["n"] for m in got_a] == [1, 3]
    assert [m["n"] for m in got_b] == [1, 2, 3]
    await layer.flush()


async def test_a_group_message_is_decoded_once_for_all_its_local_members(
    private_redis: Any,
) -> None:
    """Ten dashboards of an inbox in one process get the same dict, not ten decoded copies."""
    layer = layer_on(private_redis)
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("inbox", channel)
    await layer.group_send("inbox", {"type": "t", "text": "hello"})
    received = [await asyncio.wait_for(layer.receive(c), 5) for c in channels]
    assert received[0] == {"type": "t", "text": "hello"}
    assert all(message is received[0] for message in received)
    await layer.flush()


async def test_a_publish_does_not_wait_for_a_subscribe_in_progress(private_redis: Any) -> None:
    """Upstream sends every publish through the lock that subscribe and unsubscribe hold while
    they talk to Redis; here a publish goes at once (it never waited for the lock to be free:
    the test holds it for the whole publish)."""
    layer = layer_on(private_redis)
    listener = await layer.new_channel()
    await layer.group_add("g", listener)
    shard = layer._get_layer()._shards[0]
    async with shard._lock:  # as a subscribe or unsubscribe would, for as long as they take
        await asyncio.wait_for(layer.group_send("g", {"type": "t"}), 5)
        await asyncio.wait_for(layer.send(listener, {"type": "direct"}), 5)
    assert (await asyncio.wait_for(layer.receive(listener), 5))["type"] == "t"
    assert (await asyncio.wait_for(layer.receive(listener), 5))["type"] == "direct"
    await layer.flush()
