"""Messages sent over the socket the page already has open (`send` frames, docs/PROTOCOL.md):
stored exactly as over HTTP (the same checks, refusals and `client_id` idempotency, across the
two transports), answered with `ack` or `refused` carrying the frame's client_id."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from agents.services import conversation_claim
from chat.consumers import send_frame_bytes
from chat.models import Conversation, Message, Visitor
from chat.services import conversation_end
from chat.tokens import visitor_token
from tests.chat.test_consumers import (
    agent_socket,
    close_code,
    connect_visitor,
    frames_until,
    message_ids,
    send,
)
from tests.chat.test_views import post_message

pytestmark = pytest.mark.django_db(transaction=True)


def send_frame(body: str, client_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "send", "client_id": client_id or str(uuid.uuid4()), "body": body, **extra}


async def answer(communicator, client_id: str) -> dict[str, Any]:
    """The ack or refusal of `client_id`, past whatever else the socket sends meanwhile (the
    message's own ring, list rows)."""
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame.get("type") in ("ack", "refused") and frame["client_id"] == client_id:
            return frame


async def not_html(communicator) -> tuple[str, str | None]:
    """Type and code of the next frame that is not a fragment: past the stored message's own
    ring, which may reach the sender's socket after its ack."""
    while (frame := await communicator.receive_json_from(timeout=5))["type"] == "html":
        pass
    return frame["type"], frame.get("code")


@database_sync_to_async
def stored(**filters: Any) -> list[tuple[int, str]]:
    return list(
        Message.objects.filter(**filters)
        .order_by("conversation_id", "seq")
        .values_list("seq", "body")
    )


async def test_a_visitor_message_over_the_socket_is_stored_once_across_both_transports(
    visitor: Visitor, agent
) -> None:
    dashboard = await agent_socket(agent)
    widget = await connect_visitor(visitor)
    frame = send_frame("Hello over the socket")
    await widget.send_json_to(frame)
    ack = await answer(widget, frame["client_id"])
    assert ack["type"] == "ack"
    assert ack["created"] is True
    assert ack["seq"] == 1
    conversation_id = ack["conversation"]
    # The stored copy, as the POST answers it: it replaces the sender's "Sending…" bubble.
    assert f'id="msg-{conversation_id}-1"' in ack["html"]
    assert f'data-client-id="{frame["client_id"]}"' in ack["html"]
    # The dashboards of the inbox hear of the new chat, as after a POST.
    row = await dashboard.receive_json_from(timeout=5)
    assert f'id="conv-row-{conversation_id}"' in row["html"]

    # The same client_id again, over the socket and then over HTTP: the one stored message.
    await widget.send_json_to(frame)
    again = await answer(widget, frame["client_id"])
    assert (again["type"], again["created"], again["seq"]) == ("ack", False, 1)
    response = await database_sync_to_async(post_message)(
        Client(), visitor.inbox, visitor_token(visitor), frame["body"], frame["client_id"]
    )
    assert response.status_code == 200
    assert response["X-Seq"] == "1"
    assert await stored(conversation__visitor=visitor, sender_kind="visitor") == [
        (1, "Hello over the socket")
    ]
    await widget.disconnect()
    await dashboard.disconnect()


@pytest.mark.parametrize(
    ("frame", "status", "code"),
    [
        (send_frame("   "), 422, "empty"),
        (send_frame("x" * 5001), 422, "too_long"),
        (send_frame("nul \x00 inside"), 422, "invalid_character"),
        (send_frame("hello", client_id="not-a-uuid"), 400, "bad_client_id"),
        ({"type": "send", "client_id": 7, "body": "hello"}, 400, "bad_client_id"),
        ({"type": "send", "client_id": str(uuid.UUID(int=1)), "body": ["a"]}, 422, "empty"),
    ],
)
async def test_a_refused_message_stores_nothing_and_the_socket_lives_on(
    visitor: Visitor, frame: dict[str, Any], status: int, code: str
) -> None:
    widget = await connect_visitor(visitor)
    await widget.send_json_to(frame)
    refused = await widget.receive_json_from(timeout=5)
    assert refused["type"] == "refused"
    assert refused["client_id"] == frame["client_id"]
    assert (refused["status"], refused["code"]) == (status, code)
    assert refused["message"]
    assert await stored(conversation__visitor=visitor) == []
    await widget.send_json_to({"type": "ping"})
    assert await widget.receive_json_from(timeout=5) == {"type": "pong"}
    await widget.disconnect()


async def test_the_longest_message_fits_in_a_send_frame_and_a_bigger_frame_is_refused(
    visitor: Visitor,
) -> None:
    """Past the 4 KB of a control frame: 5,000 characters of four UTF-8 bytes each."""
    widget = await connect_visitor(visitor)
    frame = send_frame("😀" * 5000)
    await widget.send_json_to(frame)
    assert (await answer(widget, frame["client_id"]))["type"] == "ack"
    await widget.send_to(text_data='{"type":"send","body":"' + "x" * send_frame_bytes() + '"}')
    assert (await not_html(widget)) == ("error", "bad_frame")
    # A control frame still has its 4 KB.
    await widget.send_to(text_data='{"type":"typing","pad":"' + "x" * 5000 + '"}')
    assert (await not_html(widget)) == ("error", "bad_frame")
    await widget.disconnect()


async def test_a_token_that_expired_while_the_socket_was_open_is_refused(
    visitor: Visitor, settings
) -> None:
    widget = await connect_visitor(visitor)
    settings.SUPPORTDESK_VISITOR_TOKEN_MAX_AGE = -1  # every token has expired now
    frame = send_frame("after my session ended")
    await widget.send_json_to(frame)
    refused = await widget.receive_json_from(timeout=5)
    assert (refused["type"], refused["status"], refused["code"]) == (
        "refused",
        401,
        "token_expired",
    )
    assert await close_code(widget) == 4401  # get a new session, as a refused connect says
    assert await stored(conversation__visitor=visitor) == []


async def test_a_visitor_over_the_message_limit_is_told_how_long_to_wait(
    visitor: Visitor, settings
) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {
        **settings.SUPPORTDESK_RATE_LIMITS,
        "visitor_messages": "2/60",
    }
    widget = await connect_visitor(visitor)
    frames = [send_frame(f"message {n}") for n in range(3)]
    answers = []
    for frame in frames:
        await widget.send_json_to(frame)
        answers.append(await answer(widget, frame["client_id"]))
    assert [a["type"] for a in answers] == ["ack", "ack", "refused"]
    assert answers[2]["status"] == 429
    assert 1 <= answers[2]["retry_after"] <= 60
    assert [body for _, body in await stored(conversation__visitor=visitor)] == [
        "message 0",
        "message 1",
    ]
    await widget.disconnect()


async def test_too_many_frames_refuse_a_message_with_its_client_id(
    visitor: Visitor, settings
) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {**settings.SUPPORTDESK_RATE_LIMITS, "socket_frames": "1/60"}
    widget = await connect_visitor(visitor)
    await widget.send_json_to({"type": "resume", "conversation": None, "after": 0})
    frame = send_frame("one frame too many")
    await widget.send_json_to(frame)
    refused = await answer(widget, frame["client_id"])
    assert (refused["type"], refused["status"], refused["code"]) == ("refused", 429, "rate_limited")
    assert refused["retry_after"] >= 1
    assert await stored(conversation__visitor=visitor) == []
    await widget.disconnect()


async def test_an_agent_reply_over_the_socket_reaches_the_visitor(agent, visitor: Visitor) -> None:
    first = await send(visitor, "hello")
    widget = await connect_visitor(visitor)
    await widget.send_json_to({"type": "resume", "conversation": first.conversation_id, "after": 1})
    await frames_until(widget, "synced")
    dashboard = await agent_socket(agent)
    # A reply to a waiting chat claims it first (the full path), as over HTTP.
    reply = send_frame("Hi, how can I help?", conversation=first.conversation_id)
    await dashboard.send_json_to(reply)
    ack = await answer(dashboard, reply["client_id"])
    assert (ack["type"], ack["conversation"], ack["seq"]) == ("ack", first.conversation_id, 3)
    # The next one takes the two-statement path.
    second = send_frame("Still there?", conversation=first.conversation_id)
    await dashboard.send_json_to(second)
    assert (await answer(dashboard, second["client_id"]))["seq"] == 4
    seen: list[str] = []
    while len(seen) < 3:
        seen += message_ids([await widget.receive_json_from(timeout=5)])
    assert seen == [f"msg-{first.conversation_id}-{seq}" for seq in (2, 3, 4)]
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=first.conversation_id)
    assert conversation.status == "active"
    assert conversation.assigned_agent_id == agent.pk
    await widget.disconnect()
    await dashboard.disconnect()


@pytest.mark.parametrize("body", ["a reply", ""])
async def test_an_agent_cannot_send_into_another_inboxs_conversation(
    outsider_agent, visitor: Visitor, body: str
) -> None:
    """The same answer as for an id that does not exist, and before any word about the text."""
    first = await send(visitor, "hello")
    dashboard = await agent_socket(outsider_agent)
    for conversation_id in (first.conversation_id, first.conversation_id + 1000):
        frame = send_frame(body, conversation=conversation_id)
        await dashboard.send_json_to(frame)
        refused = await answer(dashboard, frame["client_id"])
        assert (refused["type"], refused["status"], refused["code"]) == (
            "refused",
            404,
            "not_found",
        )
    assert await stored(conversation_id=first.conversation_id) == [(1, "hello")]
    await dashboard.disconnect()


async def test_an_agent_reply_needs_a_conversation_and_an_open_chat(
    agent, visitor: Visitor
) -> None:
    first = await send(visitor, "hello")
    await database_sync_to_async(conversation_claim)(conversation=first.conversation, agent=agent)
    await database_sync_to_async(conversation_end)(conversation=first.conversation, by=agent)
    dashboard = await agent_socket(agent)
    for frame, status, code in [
        (send_frame("to whom?"), 400, "bad_frame"),
        (send_frame("to whom?", conversation="1"), 400, "bad_frame"),
        (send_frame("too late", conversation=first.conversation_id), 409, "conversation_ended"),
    ]:
        await dashboard.send_json_to(frame)
        refused = await answer(dashboard, frame["client_id"])
        assert (refused["type"], refused["status"], refused["code"]) == ("refused", status, code)
    assert "too late" not in [
        body for _, body in await stored(conversation_id=first.conversation_id)
    ]
    await dashboard.disconnect()
