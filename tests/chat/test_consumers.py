"""Sockets through the real ASGI application (origin check, session auth, URL router), on the
real Redis pub/sub layer when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.services import conversation_claim
from chat.events import publish_now
from chat.groups import visitor_group
from chat.models import Message, Visitor
from chat.payloads import chat_message_event
from chat.services import visitor_message_send
from chat.tokens import protocols_for, visitor_token
from supportdesk import metrics
from supportdesk.asgi import application
from supportdesk.asyncdb import database
from supportdesk.hub import hub

pytestmark = pytest.mark.django_db(transaction=True)

# What a browser on the desk's own page sends: its Host, and an Origin of the same scheme, host
# and port (supportdesk.origins).
SAME_ORIGIN = [(b"host", b"testserver"), (b"origin", b"http://testserver")]


def is_ambient(frame: dict[str, Any]) -> bool:
    """Presence, availability and queue frames: they arrive whenever the team's state or the
    waiting line changes (the tests' own agents connecting, too), so tests about other frames
    skip them; so are the real-time path probe's answers (on connect and every heartbeat)."""
    if frame.get("type") == "realtime":  # the dashboard's real-time path probe (agent sockets)
        return True
    html = frame.get("html", "").lstrip()
    return frame.get("type") == "html" and html.startswith(
        ('<li class="member"', '<p id="availability"', '<p id="queue-')
    )


class Communicator(WebsocketCommunicator):
    """A test socket that passes over ambient frames (see `is_ambient`)."""

    async def receive_json_from(self, timeout: float = 1) -> Any:  # noqa: ASYNC109 - overrides
        while True:
            frame = await super().receive_json_from(timeout)
            if not is_ambient(frame):
                return frame

    async def receive_any_json(self) -> Any:
        """The next frame, ambient or not."""
        return await super().receive_json_from(timeout=5)

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:  # noqa: ASYNC109
        while not await super().receive_nothing(timeout, interval):
            if not is_ambient(await super().receive_json_from()):
                return False
        return True


def send_sync(visitor: Visitor, body: str = "hello") -> Message:
    return visitor_message_send(visitor=visitor, body=body, client_id=uuid.uuid4()).message


send = database_sync_to_async(send_sync)


async def connect(
    path: str, *headers: tuple[bytes, bytes], subprotocols: list[str] | None = None
) -> WebsocketCommunicator:
    communicator = Communicator(
        application, path, headers=[*SAME_ORIGIN, *headers], subprotocols=subprotocols
    )
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"refused with {code}"
    return communicator


async def assert_refused(communicator: WebsocketCommunicator, code: int = 4401) -> None:
    """Refused sockets are accepted and then closed with our code, so a browser can tell
    "authenticate again" from "server gone"."""
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": code}
    await communicator.disconnect()  # let the consumer finish, so it holds no connection


def visitor_path(visitor: Visitor) -> str:
    return f"/ws/widget/{visitor.inbox.public_key}/"


def widget_communicator(
    visitor: Visitor, token: str, public_key: str | None = None
) -> Communicator:
    """A widget socket, not yet connected, offering `token` as the widget does (chat.tokens), at
    the visitor's inbox's key or at `public_key`."""
    return Communicator(
        application,
        f"/ws/widget/{public_key or visitor.inbox.public_key}/",
        headers=[*SAME_ORIGIN],
        subprotocols=protocols_for(token),
    )


async def connect_visitor(
    visitor: Visitor, *headers: tuple[bytes, bytes], token: str | None = None
) -> WebsocketCommunicator:
    """The visitor's widget socket, their token offered as the widget offers it (chat.tokens)."""
    protocols = protocols_for(token or visitor_token(visitor))
    return await connect(visitor_path(visitor), *headers, subprotocols=protocols)


async def frames_until(communicator: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    """Every frame up to and including the first of `kind`."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


def message_ids(frames: list[dict[str, Any]]) -> list[str]:
    import re

    return re.findall(r'id="(msg-\d+-\d+)"', "".join(f.get("html", "") for f in frames))


@database_sync_to_async
def store_without_ring(conversation_id: int, seq: int, body: str) -> None:
    """Store a message as a service would, minus the doorbell: what a lost publish leaves."""
    from chat.models import Conversation

    Message.objects.create(
        conversation_id=conversation_id, seq=seq, sender_kind="visitor", body=body
    )
    Conversation.objects.filter(pk=conversation_id).update(last_seq=seq)


async def following(visitor: Visitor, conversation_id: int, after: int) -> WebsocketCommunicator:
    """A visitor socket that resumed `conversation_id` after `after` and is in sync."""
    communicator = await connect_visitor(visitor)
    await communicator.send_json_to(
        {"type": "resume", "conversation": conversation_id, "after": after}
    )
    await frames_until(communicator, "synced")
    state = await communicator.receive_json_from(timeout=5)  # the state line
    assert f'id="read-{conversation_id}-agent"' in state["html"]  # and the agents' read mark
    return communicator


@pytest.fixture
async def visitor_socket(visitor: Visitor) -> AsyncIterator[WebsocketCommunicator]:
    communicator = await connect_visitor(visitor)
    yield communicator
    await communicator.disconnect()


async def test_visitor_socket_without_a_valid_token_is_refused(visitor: Visitor) -> None:
    for token in ["", "forged", visitor_token(visitor)[:-3] + "abc"]:
        await assert_refused(widget_communicator(visitor, token))


async def test_visitor_token_is_only_good_for_its_own_inbox(visitor: Visitor, other_inbox) -> None:
    await assert_refused(
        widget_communicator(visitor, visitor_token(visitor), public_key=other_inbox.public_key)
    )


async def test_socket_from_a_foreign_origin_is_refused(visitor: Visitor) -> None:
    communicator = WebsocketCommunicator(
        application, visitor_path(visitor), headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_visitor_receives_its_new_message_live(visitor_socket, visitor: Visitor) -> None:
    message = await send(visitor, "first words")
    frame = await visitor_socket.receive_json_from(timeout=5)
    assert frame["type"] == "html"
    assert frame["conversation"] == message.conversation_id
    assert frame["seq"] == 1
    assert f'id="msg-{message.conversation_id}-1"' in frame["html"]
    assert "first words" in frame["html"]


async def test_sockets_deliver_while_the_shared_sync_thread_is_busy(visitor: Visitor) -> None:
    """Django and Channels run `thread_sensitive` work of a process in one shared thread. A
    socket's delivery and its database reads must not queue there: under load that queue, not
    the work, set the delivery time (docs/PERFORMANCE.md)."""
    first = await send(visitor, "one")
    communicator = await following(visitor, first.conversation_id, after=1)
    busy = asyncio.ensure_future(sync_to_async(time.sleep, thread_sensitive=True)(3))
    await asyncio.sleep(0.05)  # the shared thread is asleep now
    started = time.monotonic()
    await database(send_sync)(visitor, "two")  # written and rung from a pool thread
    frame = await communicator.receive_json_from(timeout=2)
    assert message_ids([frame]) == [f"msg-{first.conversation_id}-2"]
    # A resume reads the database, and still does not wait for the shared thread either.
    await communicator.send_json_to(
        {"type": "resume", "conversation": first.conversation_id, "after": 0}
    )
    frames = await frames_until(communicator, "synced")
    assert message_ids(frames)[-1] == f"msg-{first.conversation_id}-2"
    assert time.monotonic() - started < 2
    assert not busy.done()
    await busy
    await communicator.disconnect()


def test_sockets_hand_their_database_connections_back(visitor: Visitor) -> None:
    """Every socket's reads run on pool threads; each call gives its connection back, so sockets
    on ever new threads (a new event loop each time, here) come and go without the PostgreSQL
    pool running dry. Channels' test communicators disable Channels' own connection closing:
    the desk's must not depend on it."""
    from django.db import connections

    pool = getattr(connections["default"], "pool", None)
    if pool is None:
        pytest.skip("the connection pool is PostgreSQL's")
    first = send_sync(visitor, "one")

    async def visit() -> None:
        communicator = await following(visitor, first.conversation_id, after=0)
        await communicator.disconnect()

    for _ in range(pool.max_size + 5):
        async_to_sync(visit)()
    stats = pool.get_stats()
    assert stats["pool_size"] - stats["pool_available"] <= 2


async def test_resume_sends_exactly_what_was_missed_in_order(visitor: Visitor) -> None:
    messages = [await send(visitor, f"m{i}") for i in range(5)]
    conversation_id = messages[0].conversation_id
    communicator = await connect_visitor(visitor)
    await communicator.send_json_to({"type": "resume", "conversation": conversation_id, "after": 2})
    frames = await frames_until(communicator, "synced")
    assert message_ids(frames) == [f"msg-{conversation_id}-{seq}" for seq in (3, 4, 5)]
    assert frames[-1] == {"type": "synced", "conversation": conversation_id, "seq": 5}
    await communicator.disconnect()


async def test_a_gap_is_filled_from_the_database_and_repeats_are_dropped(visitor: Visitor) -> None:
    first = await send(visitor, "one")
    conversation_id = first.conversation_id
    communicator = await connect_visitor(visitor)
    await communicator.send_json_to({"type": "resume", "conversation": conversation_id, "after": 1})
    await frames_until(communicator, "synced")

    # Seq 2 and 3 are stored but their doorbells were lost (a Redis blip); only the ring for
    # seq 3 arrives. The socket must fetch seq 2 from the database itself, then send 3, in order.
    def store_silently() -> dict[str, Any]:
        conversation = first.conversation
        for seq in (2, 3):
            Message.objects.create(
                conversation=conversation, seq=seq, sender_kind="visitor", body=f"m{seq}"
            )
        return chat_message_event(
            Message.objects.select_related("conversation__visitor", "conversation__inbox").get(
                conversation=conversation, seq=3
            )
        )

    event = await database_sync_to_async(store_silently)()
    layer = get_channel_layer()
    await layer.group_send(visitor_group(visitor.pk), event)
    frames = await frames_until(communicator, "synced")
    assert message_ids(frames) == [f"msg-{conversation_id}-2", f"msg-{conversation_id}-3"]
    # The same ring again, and an old one: nothing is sent twice (nor the state line, which
    # still says what the resume sent: see the next test).
    await layer.group_send(visitor_group(visitor.pk), event)
    await layer.group_send(visitor_group(visitor.pk), chat_message_event(first))
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_the_state_line_goes_along_only_when_it_changed(visitor: Visitor, agent) -> None:
    """A waiting chat's status line is the same for every message: sent with the resume, then
    again only when what it says changes (Alice took the chat)."""
    first = await send(visitor, "one")
    communicator = await following(visitor, first.conversation_id, after=1)
    await send(visitor, "two")
    frame = await communicator.receive_json_from(timeout=5)
    assert message_ids([frame]) == [f"msg-{first.conversation_id}-2"]
    assert 'id="state-' not in frame["html"]
    await database_sync_to_async(conversation_claim)(conversation=first.conversation, agent=agent)
    frame = await communicator.receive_json_from(timeout=5)
    assert message_ids([frame]) == [f"msg-{first.conversation_id}-3"]  # "Alice joined the chat."
    assert f'id="state-{first.conversation_id}"' in frame["html"]
    assert "You're chatting with <bdi>Alice</bdi>." in frame["html"]
    await communicator.disconnect()


async def test_visitor_cannot_follow_another_visitors_conversation(
    visitor: Visitor, visitor_b: Visitor
) -> None:
    theirs = await send(visitor_b, "private")
    communicator = await connect_visitor(visitor)
    await communicator.send_json_to(
        {"type": "resume", "conversation": theirs.conversation_id, "after": 0}
    )
    frame = await communicator.receive_json_from(timeout=5)
    assert frame == {"type": "error", "code": "not_found", "message": "No such conversation."}
    await send(visitor_b, "still private")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"type": "resume", "conversation": "1", "after": 0}',
        '{"type": "resume", "conversation": 1, "after": -1}',
        '{"type": "resume", "conversation": true, "after": 0}',
        '{"type": "explode"}',
        '{"type": "ping", "pad": "' + "x" * 5000 + '"}',
        "[" * 2000 + "]" * 2000,  # under 4096 bytes, deeper than the JSON parser goes
        '{"type": "resume", "conversation": [1], "after": 0}',  # not a key of the cursors
        '{"type": "resume", "conversation": {"a": 1}, "after": 0}',
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_lives_on(
    visitor_socket, frame: str
) -> None:
    await visitor_socket.send_to(text_data=frame)
    reply = await visitor_socket.receive_json_from(timeout=5)
    assert reply["type"] == "error"
    await visitor_socket.send_json_to({"type": "ping"})
    assert await visitor_socket.receive_json_from(timeout=5) == {"type": "pong"}


# --- Agents --------------------------------------------------------------------------------


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def agent_socket(agent) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie)(agent.user)
    communicator = await connect("/ws/agents/", cookie)
    lists = await communicator.receive_json_from(timeout=5)
    assert 'id="lists"' in lists["html"]
    return communicator


async def test_anonymous_agent_socket_is_refused() -> None:
    communicator = Communicator(application, "/ws/agents/", headers=[*SAME_ORIGIN])
    await assert_refused(communicator)


async def test_logged_in_user_who_is_not_an_agent_is_refused(db) -> None:
    from django.contrib.auth import get_user_model

    user = await database_sync_to_async(get_user_model().objects.create_user)(
        "nobody", password="x"
    )
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = Communicator(application, "/ws/agents/", headers=[*SAME_ORIGIN, cookie])
    await assert_refused(communicator)


@pytest.mark.parametrize("conversation", [[1], {"a": 1}, 1.0, "1"])
async def test_agent_socket_answers_a_malformed_resume_and_lives_on(agent, conversation) -> None:
    communicator = await agent_socket(agent)
    await communicator.send_json_to({"type": "resume", "conversation": conversation, "after": 0})
    reply = await communicator.receive_json_from(timeout=5)
    assert (reply["type"], reply["code"]) == ("error", "bad_frame")
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_agent_list_updates_live_when_a_visitor_starts_a_chat(
    agent, visitor: Visitor
) -> None:
    communicator = await agent_socket(agent)
    message = await send(visitor, "Is anyone there?")
    frame = await communicator.receive_json_from(timeout=5)
    assert f'id="conv-row-{message.conversation_id}"' in frame["html"]
    assert 'data-container="list-waiting"' in frame["html"]
    assert "Is anyone there?" in frame["html"]
    await communicator.disconnect()


async def test_agent_of_another_inbox_hears_nothing(outsider_agent, visitor: Visitor) -> None:
    communicator = await agent_socket(outsider_agent)
    message = await send(visitor, "secret")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.send_json_to(
        {"type": "resume", "conversation": message.conversation_id, "after": 0}
    )
    assert (await communicator.receive_json_from(timeout=5))["code"] == "not_found"
    await communicator.disconnect()


async def test_agent_following_a_conversation_gets_messages_and_state(
    agent, visitor: Visitor
) -> None:
    first = await send(visitor, "hello")
    communicator = await agent_socket(agent)
    await communicator.send_json_to(
        {"type": "resume", "conversation": first.conversation_id, "after": 0}
    )
    frames = await frames_until(communicator, "synced")
    assert message_ids(frames) == [f"msg-{first.conversation_id}-1"]
    state = await communicator.receive_json_from(timeout=5)
    assert f'id="pane-header-{first.conversation_id}"' in state["html"]

    await database_sync_to_async(conversation_claim)(conversation=first.conversation, agent=agent)
    frame = await communicator.receive_json_from(timeout=5)
    assert message_ids([frame]) == [f"msg-{first.conversation_id}-2"]
    assert "Alice joined the chat." in frame["html"]
    assert 'data-status="active"' in frame["html"]  # the pane header came with it
    assert 'data-container="list-active"' in frame["html"]  # and the row moved
    await communicator.disconnect()


async def test_only_committed_writes_reach_the_layer(visitor: Visitor) -> None:
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(visitor_group(visitor.pk), listener)

    def rolled_back_then_committed() -> None:
        from django.db import transaction

        with contextlib.suppress(RuntimeError), transaction.atomic():
            send_sync(visitor, "rolled back")
            raise RuntimeError("roll back")
        send_sync(visitor, "committed")

    await database_sync_to_async(rolled_back_then_committed)()
    event = await asyncio.wait_for(layer.receive(listener), timeout=5)
    assert event["message"]["body"] == "committed"
    assert event["message"]["seq"] == 1
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(listener), timeout=0.3)
    await layer.group_discard(visitor_group(visitor.pk), listener)


async def close_code(communicator: WebsocketCommunicator) -> int:
    """The code the socket is closed with, past whatever frames (presence...) come first."""
    output = await communicator.receive_output(timeout=5)
    while output["type"] == "websocket.send":
        output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def statements() -> float:
    """SQL statements this process has sent so far (supportdesk.metrics)."""
    return metrics.SQL_STATEMENTS._value.get()


async def test_a_heartbeat_is_answered_from_memory(visitor: Visitor, agent, settings) -> None:
    """No query, no round trip to Redis: an idle socket costs its heartbeat and nothing more.
    The checks a heartbeat used to make run once per process for every socket (below)."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    first = await send(visitor, "one")
    widget = await following(visitor, first.conversation_id, after=1)
    dashboard = await agent_socket(agent)
    for communicator in (widget, dashboard):  # what connecting set off is done
        assert await communicator.receive_nothing(timeout=0.3)
    before = await statements()
    for _ in range(5):
        await widget.send_to(text_data='{"type":"ping"}')
        assert await widget.receive_json_from(timeout=5) == {"type": "pong"}
        await dashboard.send_to(text_data='{"type":"ping"}')
        assert await dashboard.receive_json_from(timeout=5) == {"type": "pong"}
    assert await statements() == before
    await widget.disconnect()
    await dashboard.disconnect()


async def test_the_process_resync_repairs_a_lost_last_ring(visitor: Visitor, settings) -> None:
    """The last message's doorbell was lost (Redis was down): no later event reveals the gap,
    so the process checks every followed cursor against the database (the "cursors" job). The
    first check finds it behind, which may be a ring on its way; the next, still behind,
    catches up."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600  # the test runs the job itself
    first = await send(visitor, "one")
    communicator = await following(visitor, first.conversation_id, after=1)
    await store_without_ring(first.conversation_id, 2, "two")
    assert await communicator.receive_nothing(timeout=0.2)
    await hub().run("cursors")
    assert await communicator.receive_nothing(timeout=0.2)
    await hub().run("cursors")
    frames = await frames_until(communicator, "synced")
    assert message_ids(frames) == [f"msg-{first.conversation_id}-2"]
    await communicator.disconnect()


async def test_a_ring_still_on_its_way_is_not_taken_for_a_lost_one(
    visitor: Visitor, settings
) -> None:
    """Under load a ring can arrive after a check found the cursor behind: the message comes
    once, by its ring, and the next check finds nothing to catch up."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    first = await send(visitor, "one")
    communicator = await following(visitor, first.conversation_id, after=1)

    def store_holding_the_ring() -> dict[str, Any]:
        store_without_ring.__wrapped__(first.conversation_id, 2, "late")
        message = Message.objects.select_related(
            "conversation__visitor", "conversation__inbox", "conversation__assigned_agent"
        ).get(conversation_id=first.conversation_id, seq=2)
        return chat_message_event(message)

    event = await database_sync_to_async(store_holding_the_ring)()
    await hub().run("cursors")
    assert await communicator.receive_nothing(timeout=0.2)
    await database_sync_to_async(publish_now)([visitor_group(visitor.pk)], event)
    frame = await communicator.receive_json_from(timeout=5)
    assert message_ids([frame]) == [f"msg-{first.conversation_id}-2"]
    await hub().run("cursors")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_one_resync_query_serves_every_socket_of_the_process(
    visitor: Visitor, visitor_b: Visitor, settings
) -> None:
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    sockets = []
    for who in (visitor, visitor_b):
        message = await send(who, "hello")
        sockets.append(await following(who, message.conversation_id, after=1))
    for communicator in sockets:  # what connecting set off (the line, availability) is done
        assert await communicator.receive_nothing(timeout=0.3)
    before = await statements()
    await hub().run("cursors")
    assert await statements() == before + 1
    for communicator in sockets:
        await communicator.disconnect()


async def test_agent_lists_catch_a_new_chat_whose_ring_was_lost(
    agent, visitor: Visitor, settings
) -> None:
    """No followed conversation can reveal a chat that started while Redis was down: the
    process's agents check compares the newest activity with what each dashboard has shown."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    communicator = await agent_socket(agent)

    def start_silently() -> int:
        from django.utils import timezone

        from chat.models import Conversation

        conversation = Conversation.objects.create(
            inbox=visitor.inbox, visitor=visitor, last_seq=1, last_message_at=timezone.now()
        )
        Message.objects.create(
            conversation=conversation, seq=1, sender_kind="visitor", body="lost ring"
        )
        return conversation.pk

    pk = await database_sync_to_async(start_silently)()
    await hub().run("agents")
    assert await communicator.receive_nothing(timeout=0.2)  # its ring may be on its way
    await hub().run("agents")
    lists = await communicator.receive_json_from(timeout=5)
    assert f'id="conv-row-{pk}"' in lists["html"]
    assert "lost ring" in lists["html"]
    # Nothing new: the next check sends nothing more.
    await hub().run("agents")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_agent_socket_is_closed_after_logout(agent, settings) -> None:
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    cookie = await database_sync_to_async(session_cookie)(agent.user)
    communicator = await connect("/ws/agents/", cookie)
    await communicator.receive_json_from(timeout=5)  # lists

    def log_out_everywhere() -> None:
        from django.contrib.sessions.models import Session

        Session.objects.all().delete()

    await database_sync_to_async(log_out_everywhere)()
    await hub().run("agents")
    assert await close_code(communicator) == 4000
    await communicator.disconnect()


async def test_logging_out_closes_that_sessions_sockets_at_once(agent, settings) -> None:
    """No heartbeat needed: the logout names its session, and only that session's sockets close
    (the same agent signed in elsewhere keeps working)."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        await database_sync_to_async(client.force_login)(agent.user)
    sockets = [
        await connect(
            "/ws/agents/", (b"cookie", f"sessionid={c.cookies['sessionid'].value}".encode())
        )
        for c in (here, elsewhere)
    ]
    for communicator in sockets:
        await communicator.receive_json_from(timeout=5)  # lists
    await database_sync_to_async(here.post)("/accounts/logout/")
    output = await sockets[0].receive_output(timeout=5)
    while output["type"] == "websocket.send":  # presence and the like, sent before it
        output = await sockets[0].receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4000}
    assert await sockets[1].receive_nothing(timeout=0.5)
    for communicator in sockets:
        await communicator.disconnect()


async def test_agent_removed_from_an_inbox_stops_hearing_it_at_once(
    agent, visitor: Visitor, settings
) -> None:
    """Pushed: the change of inboxes tells the agent's sockets, which check again at once."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    communicator = await agent_socket(agent)
    await database_sync_to_async(agent.inboxes.clear)()
    lists = await communicator.receive_json_from(timeout=5)  # regrouped: fresh (empty) lists
    assert 'id="lists"' in lists["html"]
    await send(visitor, "no longer yours")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_agent_socket_is_closed_at_once_when_the_account_is_deactivated(
    agent, settings
) -> None:
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    communicator = await agent_socket(agent)

    def deactivate() -> None:
        agent.user.is_active = False
        agent.user.save()

    await database_sync_to_async(deactivate)()
    assert await close_code(communicator) == 4000
    await communicator.disconnect()


async def test_agent_sockets_close_at_once_when_the_password_changes(agent, settings) -> None:
    """As Django's HTTP side logs every other session out on a password change (the session's
    auth hash no longer matches), the sockets of those sessions close: at once through the
    change's event, and by the process's check if no event came (issue 16: they kept
    receiving new chats)."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    by_event = await agent_socket(agent)

    def change_password() -> None:
        agent.user.set_password("a new passphrase for alice")
        agent.user.save()

    await database_sync_to_async(change_password)()
    assert await close_code(by_event) == 4000
    await by_event.disconnect()


async def test_a_password_changed_behind_the_models_back_is_found_by_the_process_check(
    agent, settings
) -> None:
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    communicator = await agent_socket(agent)

    def change_password() -> None:
        user = type(agent.user).objects.get(pk=agent.user_id)
        user.set_password("changed by a script")
        type(agent.user).objects.filter(pk=agent.user_id).update(password=user.password)

    await database_sync_to_async(change_password)()
    assert await communicator.receive_nothing(timeout=0.2)
    await hub().run("agents")
    assert await close_code(communicator) == 4000
    await communicator.disconnect()


async def test_a_deactivation_that_sent_no_signal_is_found_by_the_process_check(
    agent, settings
) -> None:
    """An UPDATE behind the models' back (a script, a restored backup) pushes nothing: the
    process's periodic check of every dashboard's rights finds it."""
    settings.SUPPORTDESK_RESYNC_SECONDS = 3600
    communicator = await agent_socket(agent)

    def deactivate() -> None:
        type(agent.user).objects.filter(pk=agent.user_id).update(is_active=False)

    await database_sync_to_async(deactivate)()
    assert await communicator.receive_nothing(timeout=0.2)
    await hub().run("agents")
    assert await close_code(communicator) == 4000
    await communicator.disconnect()


async def test_resume_never_puts_the_cursor_past_the_database(visitor: Visitor) -> None:
    """A client claiming more than exists (a bug, a restored backup) must not mute the chat."""
    first = await send(visitor, "one")
    communicator = await connect_visitor(visitor)
    await communicator.send_json_to(
        {"type": "resume", "conversation": first.conversation_id, "after": 1000}
    )
    assert (await frames_until(communicator, "synced"))[-1]["seq"] == 1
    await communicator.receive_json_from(timeout=5)  # the state line
    second = await send(visitor, "two")
    frame = await communicator.receive_json_from(timeout=5)
    assert message_ids([frame]) == [f"msg-{second.conversation_id}-2"]
    await communicator.disconnect()


def closing_like_daphne(app: Any) -> Any:
    """`app` served as daphne serves it: once the socket is closing (the app sent its close, or
    the client's close frame crossed a send), a send raises autobahn's Disconnected."""
    from autobahn.exception import Disconnected

    async def served(scope: dict[str, Any], receive: Any, send: Any) -> None:
        closing = False

        async def daphne_send(message: dict[str, Any]) -> None:
            nonlocal closing
            if closing and message["type"] == "websocket.send":
                raise Disconnected("Attempt to send on a closed protocol")
            closing = closing or message["type"] == "websocket.close"
            await send(message)

        await app(scope, receive, daphne_send)

    return served


async def test_a_frame_for_a_socket_already_closing_is_dropped_not_an_error(agent) -> None:
    """Issue 16: a dashboard socket closing while a frame was on its way (the probe's answer,
    a pong) made the consumer fail, and daphne logged an ERROR with a traceback."""
    cookie = await database_sync_to_async(session_cookie)(agent.user)
    socket = Communicator(
        closing_like_daphne(application), "/ws/agents/", headers=[*SAME_ORIGIN, cookie]
    )
    assert (await socket.connect(timeout=5))[0]

    def change_password() -> None:
        agent.user.set_password("a new passphrase for alice")
        agent.user.save()

    await database_sync_to_async(change_password)()
    assert await close_code(socket) == 4000  # the server closes...
    await socket.send_json_to({"type": "ping"})  # ...as the client's ping crosses its close
    await socket.send_input({"type": "websocket.disconnect", "code": 4000})
    await socket.wait(timeout=5)  # raises what the consumer raised
