"""Sockets. Each keeps a cursor per conversation: the last `seq` it delivered.

An event whose seq is cursor + 1 is rendered and sent; an older or repeated one is dropped; a gap
(the layer lost a ring, or events crossed between server processes) is filled from the database.
On every (re)connect the client says the last seq it has (`resume`) and gets everything after it.
A lost *last* ring, which no later event reveals, is found by the process's resync job
(`check_cursors`), which reads every followed conversation's last seq in one query.

Client -> server frames: {"type": "resume", "conversation": id | null, "after": seq}
                         {"type": "send", "client_id": uuid, "body": "...", ...}
                         {"type": "ping"}  (answered from memory)
Server -> client frames: {"type": "html", "conversation": id, "seq": n, "html": "..."}
                         {"type": "synced", "conversation": id, "seq": n}
                         {"type": "ack" | "refused", "client_id": uuid, ...}  (to a send)
                         {"type": "pong"} and {"type": "error", "code": "...", "message": "..."}
See docs/PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from chat import calls, sending
from chat.attachments import file_pass
from chat.availability import inbox_availability_event
from chat.events import publish_now
from chat.groups import agent_group, inbox_group, inbox_widgets_group, visitor_group
from chat.models import Conversation, Visitor
from chat.payloads import (
    AvailabilityEvent,
    ChatMessageEvent,
    ConversationData,
    MessageData,
    QueueEvent,
    TypingEvent,
    VisitorSignedOutEvent,
)
from chat.posting import Posted
from chat.queue import queue_event, queue_place
from chat.rendering import (
    SameObjects,
    Viewer,
    render_availability,
    render_messages,
    render_queue,
    render_receipt,
)
from chat.selectors import conversation_summary, conversations_last_seq, messages_after
from chat.services import conversation_read
from chat.tokens import (
    SUBPROTOCOL,
    InvalidVisitorToken,
    token_claims,
    token_from_protocols,
    visitor_for_claims,
    visitor_token,
)
from supportdesk import metrics, ratelimit, unavailable
from supportdesk.asyncdb import database
from supportdesk.hub import Hub, every, hub
from supportdesk.logs import new_id, socket_id

logger = logging.getLogger(__name__)

# What a server raises for a send on a socket that is closing: daphne, autobahn's Disconnected;
# other ASGI servers, an OSError (the ASGI spec). Caught around sends only (`CursorConsumer.send`).
try:
    from autobahn.exception import Disconnected as _Disconnected
except ImportError:  # pragma: no cover - served by another ASGI server
    _Disconnected = OSError  # type: ignore[assignment,misc]
SOCKET_GONE: tuple[type[Exception], ...] = (_Disconnected, OSError)

MAX_FRAME_BYTES = 4096  # control frames (resume, read, typing); `send` frames: send_frame_bytes
TYPING_MIN_INTERVAL = 1.0  # seconds between relayed "typing" frames of one socket
TYPING_EXPIRES_SECONDS = 6.0  # the receiver hides "X is typing" this long after the last one

# Close codes (4000-4999 are the application's own; see docs/PROTOCOL.md).
CLOSE_UNAUTHORIZED = 4401
# "Connect again": the client reconnects as after any drop, and the connect checks its cookie
# (a new login rotates the session key; only a real logout then gets 4401).
CLOSE_RECHECK = 4000
CLOSE_TRY_AGAIN = 4503  # the database could not be reached at connect: reconnect later
CLOSE_RATE_LIMITED = 4429  # too many sockets from one address: reconnect later, with backoff

# The heartbeat as the reference clients send it, and its answer: compared and sent as text, so
# the commonest frame of all costs no JSON parsing (other spellings take the JSON path).
PING = '{"type":"ping"}'
PONG = '{"type":"pong"}'
# How many conversation ids one resync query asks about.
RESYNC_CHUNK = 500


def _html_frame(html: str) -> str:
    return json.dumps({"type": "html", "html": html})


_html_frames = SameObjects(64)


class _Failed:
    """What a pump puts in the consumer's queue when its source raised: the consumer re-raises."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class CursorConsumer(AsyncJsonWebsocketConsumer):
    """What the visitor and agent sockets share: groups, cursors, catch-up and frames."""

    viewer: Viewer
    file_pass = ""  # what this viewer's file links carry (a visitor's: chat.attachments)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' consumer loop, with one queue. Channels waits for the next client frame and
        the next layer event with `asyncio.wait` and makes a new task per message. Here the
        consumer reads one queue: the server's own queue of client frames when `receive` is
        its `get` (daphne's and Channels' test communicator's are), into which the layer puts
        this socket's events too (supportdesk.layers `deliver_into`), and the process's socket
        jobs their nudges (`nudge`). Any other server or layer is fed into it by a task."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        frames = getattr(receive, "__self__", None)
        served = isinstance(frames, asyncio.Queue) and receive == frames.get
        self.inbox: asyncio.Queue[Any] = frames if served else asyncio.Queue()  # type: ignore[assignment]
        pumps = [] if served else [asyncio.create_task(self._pump(receive))]
        deliver_into = getattr(self.channel_layer, "deliver_into", None)
        if deliver_into is not None:
            await deliver_into(self.channel_name, self.inbox)
        else:
            channel_receive = partial(self.channel_layer.receive, self.channel_name)
            pumps.append(asyncio.create_task(self._pump(channel_receive)))
        try:
            while True:
                message = await self.inbox.get()
                if isinstance(message, _Failed):
                    raise message.error
                await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            hub().discard(self)
            for task in pumps:
                task.cancel()  # a cancelled layer receive unsubscribes the channel
            await asyncio.gather(*pumps, return_exceptions=True)
            if deliver_into is not None:
                await self.channel_layer.release(self.channel_name)

    async def _pump(self, source: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            while True:
                self.inbox.put_nowait(await source())
        except Exception as error:
            self.inbox.put_nowait(_Failed(error))

    def nudge(self, event: dict[str, Any]) -> None:
        """Handle `event` in this socket's own task, after what it is doing (socket jobs)."""
        self.inbox.put_nowait(event)

    async def connect(self) -> None:
        # Fragments this socket renders speak the browser's language, as its pages do. The
        # consumer lives in one task, and the activation is task-local; so is the socket's id,
        # which every log line of this socket carries (supportdesk.logs).
        translation.activate(language_from_scope(self.scope))
        self.socket_id = new_id()[:16]
        socket_id.set(self.socket_id)
        self.opened_at = time.monotonic()
        self.counted = False
        self.cursors: dict[int, int] = {}
        self.joined: list[str] = []
        # Per followed conversation, its last seq in the database when a resync last found the
        # cursor behind it (see `lost_rings`).
        self.behind: dict[int, int] = {}
        # Per followed conversation, what each part of its state showed when last sent
        # (`state_changed`).
        self.sent_state: dict[int, dict[str, object]] = {}
        self.frames = ratelimit.ConnectionWindow("socket_frames")
        self.calls: dict[int, calls.CallParty] = {}  # live calls this socket's person is in
        # Accept, then close with our code: a socket refused during the handshake reaches the
        # browser as a bare 1006, and the client could not tell "log in again" or "slow down"
        # from "the server is down, retry".
        count_socket = sync_to_async(ratelimit.hit, thread_sensitive=False)
        if await count_socket("socket_ip", ratelimit.scope_ip(self.scope)):
            await self.refuse(CLOSE_RATE_LIMITED)
            return
        groups = await self.authorize()
        if groups is None:
            await self.refuse(CLOSE_UNAUTHORIZED)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = groups
        await self.accept()
        self.counted = True
        hub().add(self)
        metrics.SOCKETS_OPEN.labels(kind=self.viewer).inc()
        metrics.SOCKETS_OPENED.labels(kind=self.viewer).inc()
        logger.info(
            "socket opened",
            extra={"event": "socket.opened", "kind": self.viewer, **self.who()},
        )

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Channels' send; a frame for a socket the server already closes is dropped. The
        client's close frame, or this socket's own close, can cross a frame on its way (a
        pong, the health probe's answer): the server then refuses the send (daphne raises
        autobahn's Disconnected; the ASGI spec says an OSError), and the disconnect that
        follows ends this consumer. It used to fail here, logged as an ERROR (issue 16)."""
        try:
            await super().send(text_data, bytes_data, close)
        except SOCKET_GONE:
            logger.debug("frame dropped: the socket is closing", extra={"event": "socket.gone"})

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Channels' accept, naming the desk's subprotocol if the client offered it: a browser
        that offered subprotocols fails a handshake whose answer names none (the widget offers
        one to carry its token: chat.tokens), and could not read our close code then."""
        if subprotocol is None and SUBPROTOCOL in self.scope.get("subprotocols", ()):
            subprotocol = SUBPROTOCOL
        await super().accept(subprotocol, headers)

    async def refuse(self, code: int) -> None:
        metrics.SOCKETS_REFUSED.labels(kind=self.viewer, code=str(code)).inc()
        logger.info(
            "socket refused", extra={"event": "socket.refused", "kind": self.viewer, "code": code}
        )
        await self.accept()
        await self.close(code=code)

    def who(self) -> dict[str, int]:
        """Hook: whose socket this is, for its log lines."""
        return {}

    async def authorize(self) -> list[str] | None:
        """The groups this socket may join, or None to refuse it."""
        raise NotImplementedError

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its `close_old_connections` before every message.

        Channels runs that with `thread_sensitive=True`: for every frame and every group event,
        each socket of the process waits its turn in the one shared thread (with whatever
        database work queues there). Under load that queue, not the work, set the delivery time
        (docs/PERFORMANCE.md). The consumers here touch the database only through
        `supportdesk.asyncdb.database`, which closes its connections itself, so nothing is left
        for the per-message close to do."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except Exception as error:
            if not unavailable.is_unavailable(error):
                raise
            await self.database_unavailable(message, error)

    async def database_unavailable(self, message: dict[str, Any], error: BaseException) -> None:
        """The database could not answer (down, no connection from the pool in time, a lock or
        statement timeout: supportdesk.unavailable) while this socket handled `message`. The
        socket lives on, or ends as it was ending: a handshake is closed with 4503 (try again
        later: the client reconnects with backoff), a client frame answered with an `error`
        frame to retry after `retry_after`, and an event's work is left to the process's catch-up
        (`check_cursors`), which compares cursors with the database once it answers."""
        metrics.DATABASE_UNAVAILABLE.labels(where="socket").inc()
        logger.warning(
            "database unavailable: %s",
            type(error).__name__,
            extra={"event": "socket.database_unavailable", "message_type": message["type"]},
        )
        if message["type"] == "websocket.connect":
            if not getattr(self, "counted", False):  # not accepted yet
                await self.accept()
            await self.close(code=CLOSE_TRY_AGAIN)
        elif message["type"] == "websocket.disconnect":
            raise StopConsumer  # what was left undone the presence sweep and the timeouts do
        elif message["type"] == "websocket.receive":
            await self.send_error(
                unavailable.CODE,
                unavailable.message(),
                retry_after=unavailable.RETRY_AFTER_SECONDS,
            )

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' own, without its hop to the shared thread to close a database connection
        this task never opened (see `dispatch`)."""
        await self.disconnect(message["code"])
        raise StopConsumer

    async def may_follow(self, conversation_id: int) -> bool:
        raise NotImplementedError

    async def followable(self, conversation_id: int) -> bool:
        """`may_follow`, answering `not_found` if not: the same answer whether the conversation
        exists or not, so ids are not confirmed."""
        if await self.may_follow(conversation_id):
            return True
        await self.send_error("not_found", "No such conversation.")
        return False

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            self.counted = False
            metrics.SOCKETS_OPEN.labels(kind=self.viewer).dec()
            logger.info(
                "socket closed",
                extra={
                    "event": "socket.closed",
                    "kind": self.viewer,
                    "code": code,
                    "seconds": round(time.monotonic() - self.opened_at, 1),
                    **self.who(),
                },
            )
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        wait = self.frames.hit()
        if text_data == PING and not wait:
            await self.heartbeat()
            return
        size = len(text_data.encode()) if text_data is not None else 0
        if text_data is None or size > max(send_frame_bytes(), calls.SIGNAL_FRAME_BYTES):
            await self.refuse_frame_size()
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):  # deeper nesting than the parser goes
            await self.send_error("bad_frame", "Frames must be JSON.")
            return
        if not isinstance(content, dict):
            await self.send_error("bad_frame", "Frames must be JSON objects.")
            return
        sends = content.get("type") == "send"
        signals = content.get("type") == "call.signal"
        if wait:
            # A message is refused with its client_id, so its sender knows to wait and send it
            # again. Other frames are dropped: they only ask (resume, read, typing), and asking
            # again later gets the same answer.
            if sends:
                slow = sending.Refused(
                    429, "rate_limited", str(sending.SLOW_DOWN), retry_after=wait
                )
                await self.refuse_send(content, slow)
            else:
                await self.send_error(
                    "rate_limited", f"Too many frames; wait {wait} s.", retry_after=wait
                )
            return
        if (
            size > MAX_FRAME_BYTES
            and not (sends and size <= send_frame_bytes())
            and not (signals and size <= calls.SIGNAL_FRAME_BYTES)
        ):
            await self.refuse_frame_size()
            return
        await self.receive_json(content)

    async def refuse_frame_size(self) -> None:
        await self.send_error(
            "bad_frame",
            f"Send JSON text frames of at most {MAX_FRAME_BYTES} bytes "
            f"({send_frame_bytes()} for a message).",
        )

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "ping":
            await self.heartbeat()
        elif kind == "resume":
            conversation_id, after = content.get("conversation"), content.get("after", 0)
            # Checked here, before any subclass looks the id up in its cursors.
            if conversation_id is not None and not (is_count(conversation_id) and is_count(after)):
                await self.send_error("bad_frame", "resume needs integer conversation and after.")
            else:
                await self.resume(conversation_id, after)
        elif kind == "read":
            await self.read(content.get("conversation"), content.get("seq"))
        elif kind == "typing":
            await self.typing(content.get("conversation"), content.get("state", "typing"))
        elif kind == "send":
            await self.send_message(content)
        elif isinstance(kind, str) and kind.startswith("call."):
            await self.call_frame(kind, content)
        else:
            await self.send_error("unknown_type", f"Unknown frame type {kind!r}.")

    async def send_message(self, content: dict[str, Any]) -> None:
        """A message sent over this socket (docs/PROTOCOL.md, "Sending over the socket"): stored
        as its HTTP endpoint stores it (chat.sending: the same checks, statements and
        refusals), answered with `ack` (the stored message's conversation, seq and HTML, as the
        POST's answer) or `refused` (the POST's status, code and text), each carrying the
        frame's `client_id`. The same `client_id` over HTTP or here is stored once."""
        try:
            try:
                stored = await database(self.post_sent)(content)
            except Exception as error:
                if not unavailable.is_unavailable(error):
                    raise
                metrics.DATABASE_UNAVAILABLE.labels(where="socket").inc()
                raise sending.Refused(
                    503,
                    unavailable.CODE,
                    unavailable.message(),
                    retry_after=unavailable.RETRY_AFTER_SECONDS,
                ) from error
        except sending.Refused as refused:
            await self.refuse_send(content, refused)
            return
        message = stored.message
        await self.send_json(
            {
                "type": "ack",
                "client_id": message["client_id"],
                "conversation": message["conversation_id"],
                "seq": message["seq"],
                "created": stored.created,
                "html": render_messages([message], viewer=self.viewer, file_pass=self.file_pass),
            }
        )
        metrics.SOCKET_SENDS.labels(kind=self.viewer, result="stored").inc()

    def post_sent(self, content: dict[str, Any]) -> Posted:
        """Hook, on a database thread: check and store a `send` frame's message, or raise
        `sending.Refused`."""
        raise sending.Refused(404, "not_found", "Messages cannot be sent on this socket.")

    async def refuse_send(self, content: dict[str, Any], refused: sending.Refused) -> None:
        frame = {
            "type": "refused",
            "client_id": content.get("client_id"),
            "status": refused.status,
            "code": refused.code,
            "message": refused.message,
        }
        if refused.retry_after is not None:
            frame["retry_after"] = refused.retry_after
        await self.send_json(frame)
        metrics.SOCKET_SENDS.labels(kind=self.viewer, result=str(refused.status)).inc()
        if refused.status == 401:  # the socket's credentials are gone too: connect again
            await self.close(code=CLOSE_UNAUTHORIZED)

    async def heartbeat(self) -> None:
        """A client's heartbeat: answered from memory, with no query and no round trip. What a
        heartbeat used to check (a lost ring, the agent's session) the process's socket jobs
        check for every socket at once."""
        await self.send(text_data=PONG)

    def lost_rings(self, latest: dict[int, int]) -> list[int]:
        """The followed conversations whose last ring was lost, given their last seqs in the
        database (`check_cursors` reads them for every socket of the process at once).

        A cursor behind the database is not yet a lost ring: under load the ring may still be on
        its way, and catching up then would only add database work where the desk is busiest.
        So the socket remembers how far the database was, and a cursor that has not got that
        far by the next check is a lost ring: it had a whole resync period to arrive."""
        behind: dict[int, int] = {}
        lost = []
        for conversation_id, cursor in self.cursors.items():
            last_seq = latest.get(conversation_id, cursor)
            if cursor >= last_seq:
                continue
            if cursor < self.behind.get(conversation_id, 0):
                lost.append(conversation_id)
            else:
                behind[conversation_id] = last_seq
        self.behind = behind
        return lost

    async def socket_catch_up(self, event: dict[str, Any]) -> None:
        """`check_cursors` found rings lost: fetch those conversations' missing messages."""
        for conversation_id in event["conversations"]:
            if conversation_id not in self.cursors:
                continue  # no longer followed
            logger.warning("socket was behind on conversation %s: resyncing", conversation_id)
            await self.catch_up(conversation_id)
            summary = await database(conversation_summary)(conversation_id)
            await self.send_html(self.state_html(summary, only_changed=False))

    async def resume(self, conversation_id: int | None, after: int) -> None:
        if conversation_id is None:
            return
        if not await self.followable(conversation_id):
            return
        # One read serves both: the cap (a cursor ahead of the database would drop every live
        # message) and the state sent after the catch-up (it may have changed while the socket
        # was away; data-version keeps a newer copy from being overwritten by this one).
        summary = await database(conversation_summary)(conversation_id)
        self.cursors[conversation_id] = min(after, summary["last_seq"])
        await self.catch_up(conversation_id)
        await self.send_html(self.state_html(summary, only_changed=False))

    async def chat_message(self, event: ChatMessageEvent) -> None:
        """A doorbell from the layer. Deliver in seq order, exactly once per socket."""
        conversation_id = event["conversation"]["id"]
        seq = event["message"]["seq"]
        await self.on_conversation_event(event)
        cursor = self.cursors.get(conversation_id)
        if cursor is None or seq <= cursor:
            return
        if seq == cursor + 1:
            await self.send_messages(
                conversation_id, [event["message"]], extra=self.state_html(event["conversation"])
            )
        else:
            await self.catch_up(conversation_id)
            await self.send_html(self.state_html(event["conversation"]))
        metrics.delivered(kind=self.viewer, published_at=event.get("published_at"))

    async def read(self, conversation_id: Any, seq: Any) -> None:
        """The person on this socket has seen the conversation up to `seq`."""
        if not is_count(conversation_id) or not is_count(seq):
            await self.send_error("bad_frame", "read needs integer conversation and seq.")
            return
        if not await self.followable(conversation_id):
            return
        await self.mark_read(conversation_id, seq)

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        raise NotImplementedError

    async def chat_read(self, event: dict[str, Any]) -> None:
        """A read watermark moved: the ticks of the other side's messages follow."""
        if event["conversation_id"] in self.cursors and event["reader"] != self.viewer:
            await self.send_html(
                render_receipt(event["conversation_id"], event["reader"], event["seq"])
            )

    async def typing(self, conversation_id: Any, state: Any) -> None:
        """Someone is typing (or stopped). Never stored: relayed to the other side, which shows
        it until the sender stops or TYPING_EXPIRES_SECONDS pass without a repeat (the sender
        may vanish mid-word). At most one relay per second per socket."""
        if not is_count(conversation_id) or state not in ("typing", "stopped"):
            await self.send_error("bad_frame", "typing needs an integer conversation and a state.")
            return
        now = time.monotonic()
        if state == "typing" and now - getattr(self, "last_typing", 0.0) < TYPING_MIN_INTERVAL:
            return
        self.last_typing = now
        if not await self.followable(conversation_id):
            return
        groups = await self.typing_groups(conversation_id)
        event: TypingEvent = {
            "type": "chat.typing",
            "conversation_id": conversation_id,
            "sender": self.typing_sender(),
            "name": self.typing_name(),
            "state": state,
        }
        publish_now(groups, event)  # ephemeral: the socket does not wait for Redis

    async def typing_groups(self, conversation_id: int) -> list[str]:
        """Hook: who hears this socket's typing."""
        raise NotImplementedError

    def typing_sender(self) -> str:
        """Hook: a key for the typist, so their own sockets do not show them typing."""
        raise NotImplementedError

    def typing_name(self) -> str:
        raise NotImplementedError

    async def chat_typing(self, event: dict[str, Any]) -> None:
        conversation_id = event["conversation_id"]
        if conversation_id not in self.cursors or event["sender"] == self.typing_sender():
            return
        await self.send_html(
            render_to_string(
                "chat/_message.html#typing",
                {
                    "conversation_id": conversation_id,
                    "name": event["name"],
                    "typing": event["state"] == "typing",
                    "expires_ms": int(TYPING_EXPIRES_SECONDS * 1000),
                },
            )
        )

    # ---- Calls (chat.calls, docs/CALLS.md) ----------------------------------------------------
    # The state of a call reaches its two parties' groups from the services; the signalling
    # (offer, answer, ICE candidates) goes socket to socket through the layer, never stored,
    # and only between the call's visitor and its agent: each frame is checked against the call
    # (`call_party`, kept per socket while the call lives) and relayed to the other party's
    # group alone, whatever the frame claims.

    async def call_frame(self, kind: str, content: dict[str, Any]) -> None:
        if kind == "call.signal":
            await self.call_signal_frame(content)
            return
        method = CALL_ACTIONS.get(kind, {}).get(self.viewer)
        if method is None:
            await self.send_error("unknown_type", f"Unknown frame type {kind!r}.")
            return
        try:
            await getattr(self, method)(content)
        except calls.CallRefused as refused:
            await self.send_error(refused.code, refused.message, call=content.get("call"))

    async def call_signal_frame(self, content: dict[str, Any]) -> None:
        call_id = content.get("call")
        signal = calls.clean_signal(content.get("signal"))
        if not is_count(call_id) or signal is None:
            await self.send_error("bad_frame", "call.signal needs an integer call and a signal.")
            return
        party = await self.call_party(call_id)
        if party is None:
            await self.send_error("call_over", "No such call is going on.", call=call_id)
            return
        other = (
            agent_group(party["agent_id"])
            if self.viewer == "visitor"
            else visitor_group(party["visitor_id"])
        )
        event = {"type": "call.signal", "call_id": call_id, "sender": self.viewer, "signal": signal}
        publish_now([other], event)  # ephemeral, like typing: the socket does not wait for Redis

    async def call_party(self, call_id: int) -> calls.CallParty | None:
        """The live call `call_id` if this socket's person is in it (remembered while it lives:
        a call's candidates come by the dozen)."""
        party = self.calls.get(call_id)
        if party is None:
            party = await database(calls.call_party)(call_id=call_id, **self.party_key())
            if party is not None:
                self.calls[call_id] = party
        return party

    def party_key(self) -> dict[str, int]:
        """Hook: who this socket is, as `chat.calls.call_party` asks (visitor_id or agent_id)."""
        raise NotImplementedError

    def ice_user(self) -> str:
        """Hook: the name in this person's TURN credentials (chat.calls.ice_servers)."""
        raise NotImplementedError

    async def call_state(self, event: dict[str, Any]) -> None:
        """A call of this socket's person started, was answered or ended: the page shows it; a
        live one comes with the ICE servers (and short-lived TURN credentials) for this side."""
        call = event["call"]
        if call["status"] in calls.LIVE and event["agent_id"] is not None:
            self.calls[call["id"]] = {
                "call_id": call["id"],
                "conversation_id": call["conversation"],
                "visitor_id": event["visitor_id"],
                "agent_id": event["agent_id"],
            }
        else:
            self.calls.pop(call["id"], None)
        await self.send_call(call)

    async def send_call(self, call: calls.CallData) -> None:
        frame: dict[str, Any] = {"type": "call", "call": call}
        if call["status"] in calls.LIVE:
            frame["ice_servers"] = calls.ice_servers(user=self.ice_user())
        await self.send_json(frame)

    async def call_sync(self, content: dict[str, Any]) -> None:
        """`{"type": "call.sync"}`: a page that holds a call asks, after its socket came back,
        which calls are still on (the end may have rung while it was away)."""
        await self.send_calls(await database(calls.live_calls)(**self.party_key()))

    async def send_calls(self, live: list[calls.CallData]) -> None:
        """Every live call of this socket's person: `{"type": "calls", "calls": [...]}`. Sent at
        connect when there are any, and to `call.sync`. A page that holds a call not among
        them learns it ended while its socket was away."""
        for call in live:
            self.calls.pop(call["id"], None)  # checked again on its first signal
        frame: dict[str, Any] = {"type": "calls", "calls": live}
        if live:
            frame["ice_servers"] = calls.ice_servers(user=self.ice_user())
        await self.send_json(frame)

    async def call_signal(self, event: dict[str, Any]) -> None:
        """The other party's signalling: handed to this page as it came (cleaned, checked)."""
        if event["sender"] != self.viewer:
            await self.send_json(
                {"type": "call.signal", "call": event["call_id"], "signal": event["signal"]}
            )

    async def on_conversation_event(self, event: ChatMessageEvent) -> None:
        """Hook for what a socket shows about conversations it does not follow (dashboard rows)."""

    def state_html(self, conversation: ConversationData, *, only_changed: bool = True) -> str:
        """Hook: HTML for a followed conversation's state (status line, header), sent with its
        messages; elements carry `data-version` (the conversation's last seq), so a stale copy
        never overwrites a newer one. With `only_changed`, the parts that show what this
        socket last sent of them are left out (`state_changed`); a resume sends them all."""
        return ""

    def state_changed(
        self, conversation_id: int, part: str, shows: object, *, only_changed: bool
    ) -> bool:
        """Whether to send `part` of a conversation's state: what it `shows` differs from what
        this socket last sent of it (a status line is the same for every message of an active
        chat: rendered and sent once, not with each), or `only_changed` is off."""
        sent = self.sent_state.setdefault(conversation_id, {})
        if only_changed and part in sent and sent[part] == shows:
            return False
        sent[part] = shows
        return True

    async def catch_up(self, conversation_id: int) -> None:
        """Send everything after the cursor from the database, then say the socket is in sync."""
        while True:
            batch = await database(messages_after)(
                conversation_id=conversation_id, after=self.cursors[conversation_id]
            )
            if not batch:
                break
            await self.send_messages(conversation_id, batch)
        await self.send_json(
            {
                "type": "synced",
                "conversation": conversation_id,
                "seq": self.cursors[conversation_id],
            }
        )

    async def send_html(self, html: str) -> None:
        if html:
            # Many sockets send the very same fragment (a list row): encoded once.
            await self.send(text_data=_html_frames.get(html, _html_frame))

    async def send_messages(
        self, conversation_id: int, messages: list[MessageData], extra: str = ""
    ) -> None:
        html = render_messages(messages, viewer=self.viewer, file_pass=self.file_pass) + extra
        self.cursors[conversation_id] = messages[-1]["seq"]
        await self.send_json(
            {
                "type": "html",
                "conversation": conversation_id,
                "seq": messages[-1]["seq"],
                "html": html,
            }
        )

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})


class VisitorConsumer(CursorConsumer):
    """`/ws/widget/<public_key>/`, with the visitor's token offered as a subprotocol
    (chat.tokens): one visitor's own conversations."""

    viewer = "visitor"

    async def authorize(self) -> list[str] | None:
        public_key = self.scope["url_route"]["kwargs"]["public_key"]
        token = token_from_protocols(self.scope.get("subprotocols", ()))
        if not token:
            # Widget pages loaded before the token moved out of the URL still send it there
            # (until they reload). Remove once no such page can be open.
            query = parse_qs(self.scope.get("query_string", b"").decode())
            token = query.get("token", [""])[0]
        try:
            claims = token_claims(token)
            self.visitor: Visitor = await database(visitor_for_claims)(
                claims, public_key=public_key
            )
        except InvalidVisitorToken:
            return None
        self.public_key, self.token = public_key, token
        self.file_pass = file_pass(self.visitor.pk, self.visitor.token_generation)
        self.rotated = claims.due_for_rotation()
        if self.rotated:
            self.token = visitor_token(self.visitor)
        return [visitor_group(self.visitor.pk), inbox_widgets_group(self.visitor.inbox_id)]

    async def connect(self) -> None:
        await super().connect()
        if getattr(self, "visitor", None) is not None:
            if self.rotated:
                # A fresh token for the widget to keep: the one it came with was due (chat.tokens).
                await self.send_json({"type": "token", "token": self.token})
            event = await database(inbox_availability_event)(self.visitor.inbox_id)
            await self.inbox_availability(event)
            if self.visitor.inbox.calls_enabled:
                # A page reloaded or reconnected mid-call (or while it rings) finds it again.
                live = await database(calls.live_calls)(visitor_id=self.visitor.pk)
                if live:
                    await self.send_calls(live)

    def party_key(self) -> dict[str, int]:
        return {"visitor_id": self.visitor.pk}

    def ice_user(self) -> str:
        return f"visitor-{self.visitor.pk}"

    async def call_accept(self, content: dict[str, Any]) -> None:
        await database(calls.call_answer)(visitor=self.visitor, call_id=call_id_of(content))

    async def call_decline(self, content: dict[str, Any]) -> None:
        await database(calls.call_decline)(visitor=self.visitor, call_id=call_id_of(content))

    async def call_hang_up(self, content: dict[str, Any]) -> None:
        await database(calls.call_hang_up)(visitor=self.visitor, call_id=call_id_of(content))

    async def inbox_queue(self, event: QueueEvent) -> None:
        """The line moved: show this visitor their place in each chat of theirs still waiting."""
        for conversation_id in self.cursors:
            await self.send_place(event, conversation_id)

    async def resume(self, conversation_id: int | None, after: int) -> None:
        await super().resume(conversation_id, after)
        if conversation_id in self.cursors:  # accepted: where is it in the line, if waiting?
            event = await database(queue_event)(self.visitor.inbox_id)
            await self.send_place(event, conversation_id)

    async def send_place(self, event: QueueEvent, conversation_id: int) -> None:
        if conversation_id in event["waiting"]:
            await self.send_html(render_queue(queue_place(event, conversation_id)))

    async def inbox_availability(self, event: AvailabilityEvent) -> None:
        await self.send_html(render_availability(event["availability"], version=event["version"]))

    def post_sent(self, content: dict[str, Any]) -> Posted:
        """As `POST /widget/KEY/messages` with this socket's token: the token must still be
        valid (it expires while a socket stays open), then the same rate limits and store."""
        try:
            claims = token_claims(self.token)
            sending.visitor_limits(
                ratelimit.scope_ip(self.scope), claims.visitor_id, sending.MESSAGE_LIMIT
            )
            draft = sending.parse(
                content.get("body"), content.get("client_id"), content.get("attachments")
            )
            return sending.store(
                lambda d: sending.visitor_post(claims=claims, public_key=self.public_key, draft=d),
                draft,
            )
        except InvalidVisitorToken as exc:
            raise sending.invalid_token(exc) from None

    async def may_follow(self, conversation_id: int) -> bool:
        mine = Conversation.objects.filter(pk=conversation_id, visitor=self.visitor)
        return await database(mine.exists)()

    def who(self) -> dict[str, int]:
        visitor = getattr(self, "visitor", None)
        return {"visitor_id": visitor.pk, "inbox_id": visitor.inbox_id} if visitor else {}

    async def visitor_signed_out(self, event: VisitorSignedOutEvent) -> None:
        """An admin erased this visitor or signed them out everywhere: the widget, refused,
        drops its token and starts anew."""
        await self.close(code=CLOSE_UNAUTHORIZED)

    def state_html(self, conversation: ConversationData, *, only_changed: bool = True) -> str:
        html = ""
        shows = (
            conversation["status"],
            conversation["assigned_agent_name"],
            conversation["rating"],
        )
        if self.state_changed(conversation["id"], "line", shows, only_changed=only_changed):
            html += render_to_string("chat/widget/page.html#state", {"conversation": conversation})
        read = conversation["agent_read_seq"]
        if self.state_changed(conversation["id"], "read", read, only_changed=only_changed):
            html += render_receipt(conversation["id"], "agent", read)
        return html

    async def mark_read(self, conversation_id: int, seq: int) -> None:
        await database(conversation_read)(
            conversation_id=conversation_id, reader="visitor", seq=seq
        )

    async def typing_groups(self, conversation_id: int) -> list[str]:
        return [inbox_group(self.visitor.inbox_id)]

    def typing_sender(self) -> str:
        return f"visitor.{self.visitor.pk}"

    def typing_name(self) -> str:
        return self.visitor.display_name

    async def on_conversation_event(self, event: ChatMessageEvent) -> None:
        # Only this visitor's events reach this group; a conversation started in another tab (or
        # by this tab's first message) is followed from its start.
        self.cursors.setdefault(event["conversation"]["id"], 0)


def language_from_scope(scope: dict[str, Any]) -> str:
    """The supported language the socket's Accept-Language header prefers (as LocaleMiddleware
    picks it for pages), else the default."""
    headers = dict(scope.get("headers", []))
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    for code, _quality in translation.trans_real.parse_accept_lang_header(accept):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def send_frame_bytes() -> int:
    """The largest `send` frame: room for the longest message however its JSON escapes it (an
    emoji written as two `\\uXXXX` escapes is 12 bytes), and at least the 16 KB the reference
    client may put in one (composer/transport.js)."""
    return max(16384, settings.SUPPORTDESK_MAX_MESSAGE_LENGTH * 12 + 1024)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# A call frame's type -> the consumer's method for it, per side that may send it (call.signal,
# both sides', is handled apart: `CursorConsumer.call_signal_frame`).
CALL_ACTIONS = {
    "call.start": {"agent": "call_start_frame"},
    "call.accept": {"visitor": "call_accept"},
    "call.decline": {"visitor": "call_decline"},
    "call.hangup": {"visitor": "call_hang_up", "agent": "call_hang_up"},
    "call.sync": {"visitor": "call_sync", "agent": "call_sync"},
}


def call_id_of(content: dict[str, Any]) -> int:
    """A call frame's `call`: an id, else CallRefused bad_frame (both sides' sockets)."""
    call_id = content.get("call")
    if not is_count(call_id):
        raise calls.CallRefused("bad_frame", "This call frame needs an integer call.")
    return call_id


@every("cursors", lambda: settings.SUPPORTDESK_RESYNC_SECONDS)
async def check_cursors(sockets: Hub) -> None:
    """The safety net under the doorbell. If the last ring of a conversation was lost (Redis
    down or restarting when it was published), no later event reveals the gap; so every
    SUPPORTDESK_RESYNC_SECONDS this process reads the last seq of every conversation its sockets
    follow, in one query per RESYNC_CHUNK of them, and each socket whose ring was lost catches
    up (`CursorConsumer.lost_rings`, `socket_catch_up`)."""
    following = [socket for socket in sockets.of(CursorConsumer) if socket.cursors]
    ids = sorted({conversation_id for socket in following for conversation_id in socket.cursors})
    latest: dict[int, int] = {}
    for start in range(0, len(ids), RESYNC_CHUNK):
        latest.update(await database(conversations_last_seq)(ids[start : start + RESYNC_CHUNK]))
    for socket in following:
        if lost := socket.lost_rings(latest):
            socket.nudge({"type": "socket.catch_up", "conversations": lost})
