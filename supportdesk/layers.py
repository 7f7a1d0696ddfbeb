"""channels-redis's pub/sub layer, with four costs of the upstream one taken out.

The desk keeps `channels_redis.pubsub.RedisPubSubChannelLayer` (one PUBLISH per group send, no
group expiry) and changes how it spends a server process's time, each change measured under
`bench/load.py` (docs/PERFORMANCE.md, where each is written up as we would report it upstream),
and one that keeps a socket alive through a Redis outage (`Shard`, 5.):

1. **No lock around PUBLISH.** Upstream sends every publish of a process through one
   `asyncio.Lock` per shard, shared with subscribe and unsubscribe, although a publish takes
   its own connection from the shard's pool. At 600 sockets and 60 messages a second the mean
   wait for that lock was 175-197 ms. Here a publish only makes sure the client exists (no
   await, so no race with another publish) and goes.
2. **A pipeline for many.** `group_send_many` sends a batch of group sends in one round trip
   per shard (`supportdesk.publisher` collects them).
3. **Decoded once.** Upstream puts the raw bytes of a group message into the queue of every
   local channel in the group, and each receiving consumer decodes its own copy (msgpack): ten
   dashboards of an inbox decoded every message ten times. Here it is decoded once and every
   consumer gets the same dict, which consumers therefore treat as read-only.
4. **Straight into the consumer's queue.** `deliver_into` has a channel's messages put into a
   queue the consumer already waits on (the one its client frames arrive in), so a message
   wakes one task instead of a receiving task and then the consumer.

Everything else (subscriptions, reconnection, Sentinel, flush) is upstream's. The subclasses
lean on channels-redis internals, so the version is pinned (pyproject.toml) and
tests/test_layers.py checks the behaviour on a real Redis.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer as UpstreamChannelLayer,
)
from channels_redis.pubsub import (
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts

logger = logging.getLogger(__name__)


class RedisPubSubChannelLayer(UpstreamChannelLayer):
    """The layer named in settings.CHANNEL_LAYERS when REDIS_URL is set."""

    def _get_layer(self) -> LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    async def group_send_many(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """`group_send` for each (group, message), in one round trip per shard."""
        await self._get_layer().group_send_many(sends)

    async def deliver_into(self, channel: str, queue: asyncio.Queue[Any]) -> None:
        """From now on, put `channel`'s messages into `queue` (a consumer's own), instead of
        keeping them for `receive`: a consumer that waits on one queue for everything wakes
        once per message, not twice (chat.consumers.CursorConsumer)."""
        self._get_layer().deliver_into(channel, queue)

    async def release(self, channel: str) -> None:
        """The consumer of a `deliver_into` channel is gone: stop delivering, unsubscribe."""
        await self._get_layer().release(channel)


class LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [Shard(host, self) for host in decode_hosts(hosts)]

    async def group_send_many(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        by_shard: dict[Shard, list[tuple[str, bytes]]] = {}
        for group, message in sends:
            channel = self._get_group_channel_name(group)
            shard = self._get_shard(channel)
            by_shard.setdefault(shard, []).append((channel, self.channel_layer.serialize(message)))
        for shard, batch in by_shard.items():
            await shard.publish_many(batch)

    def deliver_into(self, channel: str, queue: asyncio.Queue[Any]) -> None:
        if channel not in self.channels:
            raise RuntimeError(f"{channel} is not a channel of this process")
        waiting = self.channels[channel]
        self.channels[channel] = queue
        while not waiting.empty():  # anything that came before the consumer was ready
            queue.put_nowait(waiting.get_nowait())

    async def release(self, channel: str) -> None:
        if self.channels.pop(channel, None) is not None:
            try:
                await self._get_shard(channel).unsubscribe(channel)
            except Exception:  # as upstream's receive does: Redis may be down meanwhile
                logger.exception("Unexpected exception while cleaning-up channel:")

    async def receive(self, channel: str) -> Any:
        """Upstream's `receive`, returning the message its shard decoded once."""
        if channel not in self.channels:
            await self._subscribe_to_channel(channel)
        queue = self.channels[channel]
        try:
            return await queue.get()
        except (asyncio.CancelledError, TimeoutError, GeneratorExit):
            # The consumer is going away (Channels cancels its receive): unsubscribe, as
            # upstream does.
            if channel in self.channels:
                del self.channels[channel]
                try:
                    await self._get_shard(channel).unsubscribe(channel)
                except BaseException:
                    logger.exception("Unexpected exception while cleaning-up channel:")
            raise


SUBSCRIBE_TIMEOUT = 2.0  # seconds one SUBSCRIBE may take before it counts as failed
RESUBSCRIBE_EVERY = 1.0  # seconds between tries of the subscriptions Redis refused


class Shard(RedisSingleShardConnection):
    """5. **A subscription outlives an outage.** Upstream's `subscribe` raises when Redis is
    down, so a socket opened meanwhile failed its handshake (a 500, again on every reconnect),
    and a group it joined was never subscribed once Redis came back. Here a refused (or
    hung) SUBSCRIBE is remembered and tried again every RESUBSCRIBE_EVERY seconds until Redis
    takes it; the socket opens at once and hears the group from then on (what it missed
    meanwhile, the process's resync fetches from the database). Subscriptions made before the
    outage redis-py renews by itself when it reconnects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: set[str] = set()
        self._retrying: asyncio.Task[None] | None = None

    async def subscribe(self, channel: str) -> None:
        if (error := await self._subscribe_error(channel)) is None:
            return
        logger.warning("subscribe to %s deferred: Redis unavailable (%s)", channel, error)
        self._pending.add(channel)
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._resubscribe())

    async def _subscribe_error(self, channel: str) -> Exception | None:
        """Upstream's subscribe, bounded: None if Redis took it, else why not."""
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await super().subscribe(channel)
        except Exception as exc:  # redis-py's ConnectionError, a timeout: Redis is away
            return exc
        return None

    async def unsubscribe(self, channel: str) -> None:
        if channel in self._pending:
            self._pending.discard(channel)
            return
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await super().unsubscribe(channel)
        except Exception as exc:  # gone with the connection anyway; redis-py renews none
            logger.warning("unsubscribe from %s failed: Redis unavailable (%s)", channel, exc)
            self._subscribed_to.discard(channel)

    def pending(self) -> set[str]:
        """The channels and groups waiting for Redis to take their subscription."""
        return set(self._pending)

    async def _resubscribe(self) -> None:
        while self._pending:
            await asyncio.sleep(RESUBSCRIBE_EVERY)
            for channel in list(self._pending):
                if await self._subscribe_error(channel) is not None:
                    break  # still away: all of them next round
                self._pending.discard(channel)
        logger.info("deferred subscriptions made: Redis is back")

    async def publish(self, channel: str, message: bytes) -> None:
        self._ensure_redis()  # synchronous: no other publish can run in between
        await self._redis.publish(channel, message)

    async def publish_many(self, batch: list[tuple[str, bytes]]) -> None:
        self._ensure_redis()
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, message in batch:
                pipe.publish(channel, message)
            await pipe.execute()

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:
            targets: Any = (name,)
        elif name in layer.groups:
            targets = layer.groups[name]
        else:
            return
        decoded = layer.channel_layer.deserialize(message["data"])
        for channel_name in targets:
            queue = layer.channels.get(channel_name)
            if queue is not None:
                queue.put_nowait(decoded)
