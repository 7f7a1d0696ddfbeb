"""The agents' socket (agents.consumers) over real sockets: presence live for the team and the
widget, read state shared by an agent's tabs, notes kept from visitors, admins hearing every inbox,
visitor context live."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from agents.services import note_create
from chat.models import Visitor
from chat.services import conversation_end
from chat.tokens import visitor_token
from tests.chat.test_consumers import (
    agent_socket,
    connect_visitor,
    following,
    frames_until,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def raw_frames_until(communicator, predicate, limit: int = 20) -> dict[str, Any]:
    """Read frames (ambient ones included) until one satisfies `predicate`."""
    for _ in range(limit):
        frame = await communicator.receive_any_json()
        if predicate(frame):
            return frame
    raise AssertionError("no such frame")


def member_frame(agent: Agent, presence: str):
    return lambda f: (
        f'id="member-{agent.pk}"' in f.get("html", "")
        and f'data-presence="{presence}"' in f.get("html", "")
    )


async def test_colleagues_see_an_agent_come_online_go_away_and_go_offline(
    agent: Agent, second_agent: Agent, settings
) -> None:
    settings.SUPPORTDESK_PRESENCE_GRACE_SECONDS = 0.2
    watcher = await agent_socket(agent)
    bob = await agent_socket(second_agent)
    await raw_frames_until(watcher, member_frame(second_agent, "online"))
    client = Client()
    await database_sync_to_async(client.force_login)(second_agent.user)
    await database_sync_to_async(client.post)(
        reverse("agents:availability"), {"availability": "away"}
    )
    await raw_frames_until(watcher, member_frame(second_agent, "away"))
    await bob.disconnect()
    await raw_frames_until(watcher, member_frame(second_agent, "offline"))
    await watcher.disconnect()


async def test_the_widget_learns_live_whether_anyone_is_online(
    agent: Agent, visitor: Visitor, settings
) -> None:
    settings.SUPPORTDESK_PRESENCE_GRACE_SECONDS = 0.2
    widget = await connect_visitor(visitor)
    first = await raw_frames_until(widget, lambda f: 'id="availability"' in f.get("html", ""))
    assert 'data-online="false"' in first["html"]
    dashboard = await agent_socket(agent)
    online = await raw_frames_until(widget, lambda f: 'id="availability"' in f.get("html", ""))
    assert 'data-online="true"' in online["html"]
    assert "online" in online["html"]
    await dashboard.disconnect()
    gone = await raw_frames_until(widget, lambda f: 'id="availability"' in f.get("html", ""))
    assert 'data-online="false"' in gone["html"]
    await widget.disconnect()


async def test_reading_in_one_tab_clears_the_unread_badge_in_every_tab(
    agent: Agent, visitor: Visitor
) -> None:
    message = await send(visitor, "are you there?")
    conversation_id = message.conversation_id
    one, two = await agent_socket(agent), await agent_socket(agent)
    await one.send_json_to({"type": "read", "conversation": conversation_id, "seq": message.seq})
    for tab in (one, two):
        badge = await tab.receive_json_from(timeout=5)
        assert f'id="unread-{conversation_id}"' in badge["html"]
        assert 'data-unread="0"' in badge["html"]
    await one.disconnect()
    await two.disconnect()


async def test_unread_counts_rise_live_and_read_frames_are_checked(
    agent: Agent, outsider_agent: Agent, visitor: Visitor
) -> None:
    socket = await agent_socket(agent)
    first = await send(visitor, "one")
    row = await socket.receive_json_from(timeout=5)
    assert 'data-unread="1"' in row["html"]
    await send(visitor, "two")
    row = await socket.receive_json_from(timeout=5)
    assert 'data-unread="2"' in row["html"]
    for bad in ({"conversation": "1", "seq": 1}, {"conversation": 1, "seq": -1}):
        await socket.send_json_to({"type": "read", **bad})
        assert (await socket.receive_json_from(timeout=5))["code"] == "bad_frame"
    outsider = await agent_socket(outsider_agent)
    await outsider.send_json_to({"type": "read", "conversation": first.conversation_id, "seq": 1})
    assert (await outsider.receive_json_from(timeout=5))["code"] == "not_found"
    await socket.disconnect()
    await outsider.disconnect()


async def test_a_note_reaches_the_visitors_socket_as_an_empty_placeholder(
    agent: Agent, visitor: Visitor
) -> None:
    message = await send(visitor, "hello")
    widget = await connect_visitor(visitor)
    await widget.send_json_to(
        {"type": "resume", "conversation": message.conversation_id, "after": message.seq}
    )
    await frames_until(widget, "synced")
    await widget.receive_json_from(timeout=5)  # the state line
    await database_sync_to_async(note_create)(
        conversation=message.conversation,
        agent=agent,
        body="secret internal remark",
        client_id=uuid.uuid4(),
    )
    frame = await widget.receive_json_from(timeout=5)
    assert frame["seq"] == message.seq + 1
    assert "hidden" in frame["html"]
    assert "secret internal remark" not in frame["html"]
    assert "Alice" not in frame["html"]
    await widget.disconnect()


async def test_an_admin_hears_every_inbox(admin_agent: Agent, visitor: Visitor) -> None:
    socket = await agent_socket(admin_agent)
    message = await send(visitor, "anyone?")
    row = await socket.receive_json_from(timeout=5)
    assert f'id="conv-row-{message.conversation_id}"' in row["html"]
    await socket.disconnect()


async def test_the_pane_shows_the_visitors_page_change_live(agent: Agent, visitor: Visitor) -> None:
    message = await send(visitor, "which plan?")
    socket = await agent_socket(agent)
    await socket.send_json_to(
        {"type": "resume", "conversation": message.conversation_id, "after": message.seq}
    )
    await frames_until(socket, "synced")
    await socket.receive_json_from(timeout=5)  # row + header
    await database_sync_to_async(Client().post)(
        reverse("chat:widget_context", args=[visitor.inbox.public_key]),
        {"current_url": "https://shop.example/plans", "page_title": "Plans"},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    frame = await socket.receive_json_from(timeout=5)
    assert f'id="visitor-context-{visitor.pk}"' in frame["html"]
    assert "https://shop.example/plans" in frame["html"]
    await socket.disconnect()


async def test_the_pane_shows_the_visitors_rating_live(agent: Agent, visitor: Visitor) -> None:
    message = await send(visitor, "thanks, bye")
    await database_sync_to_async(conversation_end)(conversation=message.conversation, by=agent)
    socket = await agent_socket(agent)
    await socket.send_json_to(
        {"type": "resume", "conversation": message.conversation_id, "after": message.seq}
    )
    await frames_until(socket, "synced")
    response = await database_sync_to_async(Client().post)(
        reverse("chat:widget_rate", args=[visitor.inbox.public_key, message.conversation_id]),
        {"rating": "4", "comment": "Quick and kind"},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert response.status_code == 200
    frame = await raw_frames_until(
        socket, lambda f: f'id="visitor-context-{visitor.pk}"' in f.get("html", "")
    )
    assert "4/5" in frame["html"]
    assert "Quick and kind" in frame["html"]
    await socket.disconnect()


async def following_agent(agent: Agent, conversation_id: int, seq: int):
    socket = await agent_socket(agent)
    await socket.send_json_to({"type": "resume", "conversation": conversation_id, "after": seq})
    await frames_until(socket, "synced")
    await socket.receive_json_from(timeout=5)  # row + header
    return socket


async def test_typing_is_relayed_both_ways_and_never_to_oneself(
    agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    message = await send(visitor, "hello")
    conversation_id = message.conversation_id
    widget = await following(visitor, conversation_id, 1)
    alice = await following_agent(agent, conversation_id, 1)
    bob = await following_agent(second_agent, conversation_id, 1)

    # Each agent learns the other has the chat open (tests/agents/test_triage.py).
    await raw_frames_until(alice, lambda f: "<bdi>Bob</bdi> is viewing" in f.get("html", ""))
    await raw_frames_until(bob, lambda f: "<bdi>Alice</bdi> is viewing" in f.get("html", ""))

    await widget.send_json_to({"type": "typing", "conversation": conversation_id})
    for socket in (alice, bob):
        frame = await socket.receive_json_from(timeout=5)
        assert f"<bdi>{visitor.display_name}</bdi> is typing…" in frame["html"]
        assert 'data-expires-ms="6000"' in frame["html"]

    await alice.send_json_to({"type": "typing", "conversation": conversation_id})
    assert "<bdi>Alice</bdi> is typing…" in (await widget.receive_json_from(timeout=5))["html"]
    # A colleague sees it as a warning that Alice is answering (no two answers at once).
    assert "<bdi>Alice</bdi> is typing a reply…" in (await bob.receive_json_from(timeout=5))["html"]
    assert await alice.receive_nothing(timeout=0.3)  # not shown to the typist
    # A second "typing" within a second is not relayed; "stopped" always is.
    await alice.send_json_to({"type": "typing", "conversation": conversation_id})
    await alice.send_json_to(
        {"type": "typing", "conversation": conversation_id, "state": "stopped"}
    )
    stopped = await widget.receive_json_from(timeout=5)
    assert "hidden" in stopped["html"]
    assert "is typing" not in stopped["html"]
    assert await widget.receive_nothing(timeout=0.3)
    for socket in (widget, alice, bob):
        await socket.disconnect()


async def test_typing_frames_are_checked(
    agent: Agent, outsider_agent: Agent, visitor: Visitor, visitor_b: Visitor
) -> None:
    message = await send(visitor, "hello")
    other = await connect_visitor(visitor_b)
    await other.send_json_to({"type": "typing", "conversation": message.conversation_id})
    assert (await other.receive_json_from(timeout=5))["code"] == "not_found"
    outsider = await agent_socket(outsider_agent)
    await outsider.send_json_to({"type": "typing", "conversation": message.conversation_id})
    assert (await outsider.receive_json_from(timeout=5))["code"] == "not_found"
    for bad in ({"conversation": "1"}, {"conversation": 1, "state": "shouting"}):
        await other.send_json_to({"type": "typing", **bad})
        assert (await other.receive_json_from(timeout=5))["code"] == "bad_frame"
    await other.disconnect()
    await outsider.disconnect()


async def test_read_receipts_move_both_ways_and_only_forward(
    agent: Agent, visitor: Visitor
) -> None:
    message = await send(visitor, "hello")
    conversation_id = message.conversation_id
    widget = await following(visitor, conversation_id, 1)  # its state carries the watermark
    alice = await following_agent(agent, conversation_id, 1)

    await alice.send_json_to({"type": "read", "conversation": conversation_id, "seq": 1})
    receipt = await widget.receive_json_from(timeout=5)
    assert 'data-read-watermark="1"' in receipt["html"]
    assert "-agent" in receipt["html"]

    badge = await alice.receive_json_from(timeout=5)  # her own read clears her badge
    assert f'id="unread-{conversation_id}"' in badge["html"]
    await widget.send_json_to({"type": "read", "conversation": conversation_id, "seq": 99})
    receipt = await alice.receive_json_from(timeout=5)
    assert f'id="read-{conversation_id}-visitor"' in receipt["html"]
    assert 'data-read-watermark="1"' in receipt["html"]  # capped at the last message
    await widget.send_json_to({"type": "read", "conversation": conversation_id, "seq": 0})
    assert await alice.receive_nothing(timeout=0.3)  # never back, so nothing to say
    conversation = await database_sync_to_async(
        lambda: type(message.conversation).objects.get(pk=conversation_id)
    )()
    assert (conversation.visitor_read_seq, conversation.agent_read_seq) == (1, 1)
    for socket in (widget, alice):
        await socket.disconnect()


async def test_a_waiting_visitor_sees_their_place_and_wait_move_up_live(
    agent: Agent, inbox, visitor: Visitor, visitor_b: Visitor
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from agents.services import conversation_claim
    from chat.models import Conversation

    @database_sync_to_async
    def past_chat_waited(seconds: int) -> None:
        """A chat from earlier today that waited `seconds` for an agent."""
        past = Visitor.objects.create(inbox=inbox)
        created = timezone.now() - timedelta(hours=1)
        chat = Conversation.objects.create(
            inbox=inbox,
            visitor=past,
            status="ended",
            assigned_agent=agent,
            assigned_at=created + timedelta(seconds=seconds),
            ended_at=created + timedelta(minutes=10),
        )
        Conversation.objects.filter(pk=chat.pk).update(created_at=created)  # auto_now_add

    await past_chat_waited(120)
    await past_chat_waited(120)
    first = await send(visitor, "first in line")
    second = await send(visitor_b, "second in line")
    widget = await connect_visitor(visitor_b)
    await widget.send_json_to(
        {"type": "resume", "conversation": second.conversation_id, "after": 1}
    )
    await frames_until(widget, "synced")
    place = await raw_frames_until(widget, lambda f: 'id="queue-' in f.get("html", ""))
    assert "You are number 2 in line · estimated wait about 4 minutes." in place["html"]

    await database_sync_to_async(conversation_claim)(conversation=first.conversation, agent=agent)
    # Median of the waits 120 s, 120 s and ~0 s (the chat just taken): 2 minutes for place 1.
    moved = await raw_frames_until(widget, lambda f: 'id="queue-' in f.get("html", ""))
    assert "You are number 1 in line · estimated wait about 2 minutes." in moved["html"]
    await widget.disconnect()


async def test_a_dashboard_that_dies_abnormally_stops_counting_as_online(
    agent: Agent, visitor: Visitor, settings
) -> None:
    """Issue 15, D2: a dashboard's consumer ends without its `disconnect` (an exception in a
    handler; daphne killing it): nothing keeps its presence row fresh any more (the process's
    keep-alive covers only live sockets), so the row expires, the agent is announced offline and
    the widget says so."""
    from agents.consumers import AgentConsumer
    from agents.presence import presence_sweep
    from supportdesk.hub import hub

    settings.SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS = 1
    widget = await connect_visitor(visitor)
    await raw_frames_until(widget, lambda f: 'data-online="false"' in f.get("html", ""))
    dashboard = await agent_socket(agent)
    await raw_frames_until(widget, lambda f: 'data-online="true"' in f.get("html", ""))

    consumer = next(hub().of(AgentConsumer))

    async def broken(content: dict[str, Any], **kwargs: Any) -> None:
        raise RuntimeError("a handler failed")

    consumer.receive_json = broken  # the next frame kills the consumer, disconnect never runs
    await dashboard.send_json_to({"type": "read", "conversation": 1, "seq": 1})
    with pytest.raises(RuntimeError):
        await dashboard.wait(timeout=5)
    assert consumer not in set(hub().of(AgentConsumer))
    await hub().run("presence")  # the process's keep-alive: the dead socket is not refreshed
    await asyncio.sleep(1.2)  # past the presence timeout
    await database_sync_to_async(presence_sweep)()
    gone = await raw_frames_until(widget, lambda f: 'id="availability"' in f.get("html", ""))
    assert 'data-online="false"' in gone["html"]
    await widget.disconnect()
