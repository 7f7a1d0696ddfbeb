"""The baseline for bench/load.py: the least a chat relay on our stack can do.

Same server (daphne or uvicorn), same Channels, same channel layer (our settings: the Redis
pub/sub layer when REDIS_URL is set), no database, no templates, no authentication:

- `POST /send/ROOM` with a text body publishes it to the group of ROOM and answers 201;
- a socket on `/ws/ROOM/` joins that group and gets each text as it is;
- a `{"type": "send", "client_id": ..., "room": ROOM, "body": TEXT}` frame on any socket
  publishes TEXT to the group of ROOM and is answered `{"type": "ack", "client_id": ...}`, as
  the desk answers a message sent over the socket.
- with `?inbox=N` a socket also joins the group of inbox N, and a `send` frame with `"inbox": N`
  also publishes a list-row-sized text to it (`bench/load.py --relay-fanout`: the desk's
  fan-out of a message to the inbox's dashboards, at no cost of its own).

So the ratio "ours / relay" says what the desk's own work costs (the transaction, the seq, the
rendering, the checks), over what no chat on Channels + Redis can avoid.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


def room_group(room: str) -> str:
    return f"relay.{room}"


def inbox_group(inbox: object) -> str:
    return f"relay-inbox.{inbox}"


# About the size of the desk's list-row frame (row, unread badge, JSON): what each dashboard of
# the inbox gets with --relay-fanout. No message marker in it: it is not a delivery.
ROW = '{"type": "html", "html": "' + "r" * 560 + '"}'


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    parts = scope["path"].strip("/").split("/")
    if scope["method"] != "POST" or len(parts) != 2 or parts[0] != "send":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await get_channel_layer().group_send(
        room_group(parts[1]), {"type": "relay.message", "text": body.decode()}
    )
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b""})


_open = 0
_frozen_at = 0
_freezer: asyncio.Task[None] | None = None


async def _freeze_waves() -> None:
    """What the desk does for its collector (supportdesk.hub.settle), so that the baseline
    pays for Python's collector what the desk pays, no more: freeze after each wave of
    sockets."""
    global _frozen_at
    while True:
        await asyncio.sleep(10)
        if _open - _frozen_at >= max(50, _frozen_at * 0.1):
            gc.freeze()
            _frozen_at = _open


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        global _open, _freezer
        self.group = room_group(self.scope["url_route"]["kwargs"]["room"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        inbox = parse_qs(self.scope.get("query_string", b"").decode()).get("inbox")
        self.inbox = inbox_group(inbox[0]) if inbox else None
        if self.inbox:
            await self.channel_layer.group_add(self.inbox, self.channel_name)
        await self.accept()
        _open += 1
        if _freezer is None:
            _freezer = asyncio.get_running_loop().create_task(_freeze_waves())

    async def disconnect(self, code: int) -> None:
        global _open
        _open -= 1
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.inbox:
            await self.channel_layer.group_discard(self.inbox, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == '{"type":"ping"}':
            await self.send('{"type":"pong"}')
        elif text_data and text_data.startswith('{"type": "send"'):
            frame = json.loads(text_data)
            await self.channel_layer.group_send(
                room_group(frame["room"]), {"type": "relay.message", "text": frame["body"]}
            )
            if "inbox" in frame:
                await self.channel_layer.group_send(
                    inbox_group(frame["inbox"]), {"type": "relay.message", "text": ROW}
                )
            await self.send(json.dumps({"type": "ack", "client_id": frame["client_id"]}))

    async def relay_message(self, event: dict[str, str]) -> None:
        await self.send(event["text"])


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter([path("ws/<str:room>/", RelayConsumer.as_asgi())]),
    }
)
