"""Who sees a system line: a transfer between agents names internal accounts, so its line is
for the agents alone; the visitor hears only "You're now chatting with Bob." On every path to
the visitor (the live socket, a resume's catch-up, the widget's history, the transcript email),
the internal text never leaves the server; the agents get it everywhere."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from agents.services import conversation_claim, conversation_transfer
from chat.models import Message, Visitor
from chat.payloads import chat_message_event, for_visitor
from chat.services import conversation_end
from chat.tokens import visitor_token
from tests.chat.test_consumers import agent_socket, connect_visitor, frames_until, send_sync

pytestmark = pytest.mark.django_db(transaction=True)

INTERNAL = "Alice transferred the chat to Bob."
FOR_VISITOR = "You're now chatting with Bob."


def html_of(frames: list[dict[str, Any]]) -> str:
    return html.unescape("".join(f.get("html", "") for f in frames))


def transferred(visitor: Visitor, agent: Agent, second_agent: Agent) -> Message:
    conversation = send_sync(visitor).conversation
    conversation_claim(conversation=conversation, agent=agent)
    conversation_transfer(conversation=conversation, by=agent, to=second_agent)
    lines = conversation.messages.filter(sender_kind="system")
    return next(m for m in lines if m.body == INTERNAL)  # in Python: bodies may be encrypted


def test_a_transfer_line_is_for_the_agents_with_the_visitors_own_version(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    line = transferred(visitor, agent, second_agent)
    assert (line.audience, line.visitor_body) == ("agents", FOR_VISITOR)
    assert not line.visible_to_visitor
    event = chat_message_event(line)
    assert event["message"]["body"] == INTERNAL  # the agents' event: as stored
    shown = for_visitor(event)["message"]
    assert (shown["sender_kind"], shown["body"], shown["seq"]) == ("system", FOR_VISITOR, line.seq)
    assert INTERNAL not in str(for_visitor(event))


def test_an_internal_line_without_a_visitor_version_is_an_empty_placeholder(
    visitor: Visitor, agent: Agent
) -> None:
    from chat.services import append_message, conversation_lock

    conversation = send_sync(visitor).conversation
    with transaction.atomic():
        line = append_message(
            conversation_lock(conversation),
            sender_kind="system",
            body="Routing rule 7 matched.",
            audience="agents",
        )
    shown = for_visitor(chat_message_event(line))
    assert shown["message"]["seq"] == line.seq  # the visitor's cursor stays gap-free
    assert "Routing rule" not in str(shown)
    page = widget_log(visitor)
    assert f'id="msg-{conversation.pk}-{line.seq}"' in page
    assert "Routing rule" not in page


def widget_log(visitor: Visitor) -> str:
    response = Client().get(
        reverse("chat:widget_conversation", args=[visitor.inbox.public_key]),
        HTTP_X_VISITOR_TOKEN=visitor_token(visitor),
    )
    assert response.status_code == 200
    return response.content.decode()


async def test_the_visitor_socket_never_receives_the_internal_line_live_or_on_resume(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    first = await database_sync_to_async(send_sync)(visitor)
    conversation_id = first.conversation_id
    await database_sync_to_async(conversation_claim)(conversation=first.conversation, agent=agent)
    widget = await connect_visitor(visitor)
    await widget.send_json_to({"type": "resume", "conversation": conversation_id, "after": 0})
    await frames_until(widget, "synced")
    dashboard = await agent_socket(agent)
    await dashboard.send_json_to({"type": "resume", "conversation": conversation_id, "after": 0})
    await frames_until(dashboard, "synced")

    await database_sync_to_async(conversation_transfer)(
        conversation=first.conversation, by=agent, to=second_agent
    )
    live = [await widget.receive_json_from(timeout=5)]
    while not re.search(r"msg--system", html_of(live)):
        live.append(await widget.receive_json_from(timeout=5))
    assert FOR_VISITOR in html_of(live)
    assert INTERNAL not in html_of(live)
    assert "transferred" not in html_of(live)
    agents_frames = [await dashboard.receive_json_from(timeout=5)]
    while INTERNAL not in html_of(agents_frames):
        agents_frames.append(await dashboard.receive_json_from(timeout=5))

    # A socket that comes back later is caught up from the database: the same copy.
    again = await connect_visitor(visitor)
    await again.send_json_to({"type": "resume", "conversation": conversation_id, "after": 0})
    caught_up = html_of(await frames_until(again, "synced"))
    assert FOR_VISITOR in caught_up
    assert INTERNAL not in caught_up
    for socket in (widget, dashboard, again):
        await socket.disconnect()


def test_the_widget_history_and_the_agents_pane(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    line = transferred(visitor, agent, second_agent)
    page = html.unescape(widget_log(visitor))
    assert FOR_VISITOR in page
    assert INTERNAL not in page
    pane = Client()
    pane.force_login(agent.user)
    shown = pane.get(reverse("agents:conversation", args=[line.conversation_id])).content.decode()
    assert INTERNAL in html.unescape(shown)
    assert f"the visitor sees: “{FOR_VISITOR}”" in html.unescape(shown)


def test_the_transcript_email_has_the_visitors_version(
    visitor: Visitor, agent: Agent, second_agent: Agent, settings: Any
) -> None:
    from mail.services import transcript_queue

    settings.SUPPORTDESK_SITE_URL = "https://desk.example.com"
    line = transferred(visitor, agent, second_agent)
    conversation = line.conversation
    conversation_end(conversation=conversation, by=second_agent)
    visitor.email = "v@example.com"
    visitor.save(update_fields=["email"])
    conversation.refresh_from_db()
    row, _ = transcript_queue(conversation=conversation)
    assert FOR_VISITOR in row.text
    assert INTERNAL not in f"{row.text}\n{row.html}"
