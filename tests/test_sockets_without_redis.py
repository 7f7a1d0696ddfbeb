"""A socket never dies of Redis (issue 15, D1): with the channel layer's Redis down, sockets open,
live on, and do what does not need Redis (messages are stored and acknowledged, typing and read
marks are dropped or stored without a ring); what the doorbells missed arrives through the
process's database catch-up. On a Redis of the test's own, stopped for real."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer

from chat.models import Message, Visitor
from supportdesk.hub import hub
from tests.chat.test_consumers import (
    agent_socket,
    connect_visitor,
    frames_until,
    message_ids,
    send,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


async def test_sockets_open_and_live_on_while_redis_is_down(
    layer_on_private_redis, visitor: Visitor, agent, settings
) -> None:
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600  # the test runs the process's jobs itself
    first = await send(visitor, "before the outage")
    layer_on_private_redis.kill()

    widget = await connect_visitor(visitor)  # a handshake, Redis down: no 500
    await widget.send_json_to({"type": "resume", "conversation": first.conversation_id, "after": 0})
    assert message_ids(await frames_until(widget, "synced")) == [f"msg-{first.conversation_id}-1"]
    dashboard = await agent_socket(agent)
    await dashboard.send_json_to(
        {"type": "resume", "conversation": first.conversation_id, "after": 0}
    )
    await frames_until(dashboard, "synced")

    await widget.send_json_to({"type": "typing", "conversation": first.conversation_id})
    await dashboard.send_json_to({"type": "read", "conversation": first.conversation_id, "seq": 1})
    client_id = str(uuid.uuid4())
    await widget.send_json_to({"type": "send", "client_id": client_id, "body": "during it"})
    while (frame := await widget.receive_json_from(timeout=5))["type"] != "ack":
        pass
    assert frame["seq"] == 2
    # No ring reached the dashboard: the process's resync finds the gap, twice behind = lost.
    await hub().run("cursors")
    await hub().run("cursors")
    frames = await frames_until(dashboard, "synced")
    assert f"msg-{first.conversation_id}-2" in message_ids(frames)
    for socket in (widget, dashboard):  # still open: a ping is answered
        await socket.send_json_to({"type": "ping"})
        while (await socket.receive_json_from(timeout=5))["type"] != "pong":
            pass
    assert await Message.objects.filter(conversation_id=first.conversation_id).acount() == 2

    # Redis back: the groups these sockets joined while it was away are subscribed now, and
    # the next message rings through to both, without the resync.
    layer_on_private_redis.start()
    deadline = asyncio.get_running_loop().time() + 10
    while any(shard.pending() for shard in get_channel_layer()._get_layer()._shards):
        assert asyncio.get_running_loop().time() < deadline, "subscriptions not renewed"
        await asyncio.sleep(0.1)
    third = await send(visitor, "after the outage")
    for socket in (widget, dashboard):
        while (frame := await socket.receive_json_from(timeout=5)).get("type") != "html" or (
            f"msg-{first.conversation_id}-{third.seq}" not in message_ids([frame])
        ):
            pass
    await widget.disconnect()
    await dashboard.disconnect()
