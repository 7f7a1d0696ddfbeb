"""Property-based attacks on the sockets, through the real ASGI application: a visitor's socket
and an agent's socket are fed hypothesis-made frames (JSON that is not an object, objects with
fields of the wrong type, unknown types, frames past the 4096-byte limit, binary frames, JSON
nested past the parser's recursion limit, ids of other people's conversations).

Properties, for every example: each frame gets an error frame (`bad_frame`, `unknown_type`,
`not_found`) or what the protocol answers a good frame with, or at worst a documented close; the
consumer never dies of an exception (the communicator would raise it); well-behaved sockets open
meanwhile (another visitor, and agents) still get the next message; the attacker never gets
another visitor's or another inbox's message.

Each example opens its sockets, attacks, checks, and closes them, in an event loop of its own
(`async_to_sync`): hypothesis drives a sync test.

Examples per test, 75 in all (the file takes about 20 s on these 2 cores, 35 s while other
work loads them; each example opens three sockets):
- test_visitor_socket_survives_any_frames: 30 examples of 1-4 frames
- test_agent_socket_survives_any_frames: 30 examples of 1-4 frames
- test_a_visitor_socket_at_a_key_no_inbox_has_is_closed_with_4401: 15
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import given
from hypothesis import strategies as st

from agents import consumers as agent_consumers
from agents.models import Agent
from chat.consumers import CLOSE_RECHECK, CLOSE_UNAUTHORIZED, MAX_FRAME_BYTES
from chat.models import Visitor
from chat.services import visitor_message_send
from chat.tokens import protocols_for, visitor_token
from supportdesk.asgi import application
from tests.chat.test_consumers import (
    SAME_ORIGIN,
    agent_socket,
    assert_refused,
    connect,
    connect_visitor,
)
from tests.security.conftest import MARKER_B, MARKER_OTHER, World
from tests.security.strategies import deeply_nested, foreign_keys, hostile, json_values, text

pytestmark = pytest.mark.django_db(transaction=True)

ERROR_CODES = {"bad_frame", "unknown_type", "not_found"}
DOCUMENTED_CLOSES = {CLOSE_UNAUTHORIZED, CLOSE_RECHECK}


@dataclass(frozen=True)
class Frame:
    text: str | None = None
    binary: bytes | None = None


def frames_for(ids: list[int]) -> st.SearchStrategy[Frame]:
    """What an attacker sends: `ids` are conversations that are not theirs (and some that are)."""
    conversation = st.one_of(
        st.sampled_from(ids),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.lists(st.sampled_from(ids), max_size=2),
        st.dictionaries(text, st.sampled_from(ids), max_size=1),
        st.sampled_from(ids).map(float),
        json_values,
    )
    count = st.one_of(st.integers(min_value=-5, max_value=10**30), json_values)
    fields = {
        "conversation": conversation,
        "after": count,
        "seq": count,
        "state": st.one_of(st.sampled_from(["typing", "stopped"]), json_values),
    }
    kind = {"type": st.sampled_from(["resume", "read", "typing", "ping"])}
    shaped = st.one_of(
        st.fixed_dictionaries({**kind, **fields}),
        st.fixed_dictionaries(kind, optional=fields),  # fields missing too
    )
    unknown = st.fixed_dictionaries({"type": st.one_of(text, json_values)})
    not_objects = json_values.filter(lambda value: not isinstance(value, dict))
    oversized = st.builds(
        lambda unit, count: json.dumps({"type": "ping", "pad": unit * count}),
        st.sampled_from(["x", "é", "😀"]),
        st.integers(min_value=MAX_FRAME_BYTES // 4, max_value=100_000),
    ).filter(lambda frame: len(frame.encode()) > MAX_FRAME_BYTES)
    return st.one_of(
        st.one_of(shaped, unknown, not_objects).map(lambda value: Frame(text=json.dumps(value))),
        oversized.map(lambda frame: Frame(text=frame)),
        deeply_nested().map(lambda frame: Frame(text=frame)),
        text.map(lambda frame: Frame(text=frame)),  # mostly not JSON at all
        st.binary(max_size=5_000).map(lambda frame: Frame(binary=frame)),
    )


class Socket:
    """A test socket that records every frame it gets and tells a close from a frame."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None

    async def next(self, timeout: float = 5) -> dict[str, Any] | None:  # noqa: ASYNC109
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed = output.get("code")
            return None
        assert output["type"] == "websocket.send"
        assert output.get("text") is not None, "the server sends text frames only"
        frame = json.loads(output["text"])
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Any) -> dict[str, Any]:
        while True:
            frame = await self.next()
            assert frame is not None, f"closed with {self.closed} while waiting"
            if predicate(frame):
                return frame

    async def send(self, frame: Frame) -> None:
        # As the server hands it over (send_to refuses empty frames, which a client can send).
        key = "text" if frame.binary is None else "bytes"
        value = frame.text if frame.binary is None else frame.binary
        await self.communicator.send_input({"type": "websocket.receive", key: value})

    async def quiet(self) -> None:
        """Read what is already queued (ambient frames, stray relays), until nothing comes."""
        while not await self.communicator.receive_nothing(timeout=0.05):
            if await self.next() is None:
                return

    def text(self) -> str:
        return json.dumps(self.frames)


async def attack(socket: Socket, frames: list[Frame]) -> None:
    """Send each frame, then a probe: a frame of an unknown type whose error names it back.
    Everything before the probe's error is the server's answer to the frame."""
    for number, frame in enumerate(frames):
        await socket.send(frame)
        probe = f"probe-{number}"
        await socket.communicator.send_json_to({"type": probe})
        answers = []
        while True:
            answer = await socket.next()
            if answer is None:
                assert socket.closed in DOCUMENTED_CLOSES, f"closed with {socket.closed}"
                return
            if answer.get("type") == "error" and repr(probe) in answer["message"]:
                break
            answers.append(answer)
        for answer in answers:
            assert answer["type"] in {"error", "html", "synced", "pong", "realtime"}, answer
            if answer["type"] == "error":
                assert answer["code"] in ERROR_CODES, answer


async def send_as(visitor: Visitor, body: str) -> None:
    await database_sync_to_async(visitor_message_send)(
        visitor=visitor, body=body, client_id=uuid.uuid4()
    )


async def follow(socket: Socket, conversation: int) -> None:
    await socket.communicator.send_json_to(
        {"type": "resume", "conversation": conversation, "after": 10**9}
    )
    await socket.until(lambda f: f["type"] == "synced")


def has_text(body: str) -> Any:
    return lambda frame: frame.get("type") == "html" and body in frame.get("html", "")


async def open_socket(path: str, *headers: tuple[bytes, bytes]) -> Socket:
    return Socket(await connect(path, *headers))


async def open_agent(agent: Agent) -> Socket:
    return Socket(await agent_socket(agent))


async def following_b(world: World) -> Socket:
    """Visitor B's widget socket, following B's open chat: a bystander of every attack."""
    socket = Socket(await connect_visitor(world.visitor_b))
    await follow(socket, world.b_open)
    return socket


async def close_all(*sockets: Socket) -> None:
    for socket in sockets:
        if socket.closed is None:
            await socket.communicator.disconnect()
    # An agent's last socket closing settles its presence a grace period later: not needed
    # here, and the task must not outlive this event loop.
    settling = list(agent_consumers._settling)
    for task in settling:
        task.cancel()
    await asyncio.gather(*settling, return_exceptions=True)


def assert_stayed_out(socket: Socket, *markers: str) -> None:
    for marker in markers:
        assert marker not in socket.text()


@contextlib.contextmanager
def production_recursion_limit() -> Iterator[None]:
    """Python's default recursion limit, as daphne runs with: hypothesis raises it by 2000
    while a test runs, which would hide a frame nested deeper than the server can parse."""
    raised = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(raised)


@hostile(30)
@given(data=st.data())
def test_visitor_socket_survives_any_frames(world: World, data: st.DataObject) -> None:
    """Visitor A attacks from the widget socket; visitor B and an agent following B's chat
    still get B's next message, and A never does."""
    ids = [world.b_open, world.b_ended, world.foreign, world.a_open]
    frames = data.draw(st.lists(frames_for(ids), min_size=1, max_size=4), label="frames")
    note = f"{MARKER_B} {uuid.uuid4()}"

    async def run() -> None:
        victim = await following_b(world)
        dashboard = await open_agent(world.agent)
        await follow(dashboard, world.b_open)
        attacker = Socket(await connect_visitor(world.visitor))
        await attack(attacker, frames)
        await send_as(world.visitor_b, note)
        await victim.until(has_text(note))
        await dashboard.until(has_text(note))
        if attacker.closed is None:
            await attacker.quiet()
        assert_stayed_out(attacker, MARKER_B, MARKER_OTHER)
        await close_all(attacker, victim, dashboard)

    with production_recursion_limit():
        async_to_sync(run)()


@hostile(30)
@given(data=st.data())
def test_agent_socket_survives_any_frames(world: World, data: st.DataObject) -> None:
    """Alice attacks from the dashboard socket with ids of the other inbox's chats; that inbox's
    agent and visitor B still get their next messages, and Alice never sees the other inbox's."""
    ids = [world.foreign, world.b_open, world.a_ended]
    frames = data.draw(st.lists(frames_for(ids), min_size=1, max_size=4), label="frames")
    theirs = f"{MARKER_OTHER} {uuid.uuid4()}"
    b_note = f"{MARKER_B} {uuid.uuid4()}"

    async def run() -> None:
        victim = await following_b(world)
        outsider = await open_agent(world.outsider)
        await follow(outsider, world.foreign)
        attacker = await open_agent(world.agent)
        await attack(attacker, frames)
        await send_as(world.stranger, theirs)
        await outsider.until(has_text(theirs))
        await send_as(world.visitor_b, b_note)
        await victim.until(has_text(b_note))
        if attacker.closed is None:
            # The attacker hears B's chat (its own inbox) but never the other inbox's.
            await attacker.until(lambda f: b_note in f.get("html", ""))
            await attacker.quiet()
        assert_stayed_out(attacker, MARKER_OTHER)
        await close_all(attacker, victim, outsider)

    with production_recursion_limit():
        async_to_sync(run)()


@hostile(15)
@given(key=foreign_keys)
def test_a_visitor_socket_at_a_key_no_inbox_has_is_closed_with_4401(world: World, key: str) -> None:
    """A genuine token at a key that is not its inbox's (or not any): refused as unauthenticated."""
    path = f"/ws/widget/{quote(key, safe='')}/"
    protocols = protocols_for(visitor_token(world.visitor))

    async def run() -> None:
        communicator = WebsocketCommunicator(
            application, path, headers=[*SAME_ORIGIN], subprotocols=protocols
        )
        await assert_refused(communicator, code=CLOSE_UNAUTHORIZED)

    async_to_sync(run)()
