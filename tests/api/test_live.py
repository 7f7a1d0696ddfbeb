"""An API write is live exactly as a click is: a reply sent through the API reaches the
dashboard's socket and the visitor's widget socket, as the dashboard's own reply does."""

from __future__ import annotations

import re
import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from agents.models import Agent
from agents.services import conversation_claim
from chat.models import Visitor
from tests.api.conftest import token_for
from tests.chat.test_consumers import agent_socket, following, frames_until, send


def _post(path: str, token: str | None, data: dict, agent: Agent | None = None) -> int:
    if token:
        client = Client(headers={"Authorization": f"Bearer {token}"})
        return client.post(path, data, content_type="application/json").status_code
    client = Client()
    client.force_login(agent.user)  # type: ignore[union-attr]
    return client.post(path, data).status_code


async def _frames_with(socket, text: str) -> str:
    """The HTML of the frames up to the one showing `text`."""
    html = ""
    for _ in range(30):
        frame = await socket.receive_json_from(timeout=5)
        html += frame.get("html", "")
        if text in frame.get("html", ""):
            return html
    raise AssertionError(f"{text!r} never came")


def _message_element(html: str, conversation_id: int, seq: int) -> str:
    """The message's opening tag, its own seq and client id taken out."""
    match = re.search(rf'<[^>]*id="msg-{conversation_id}-{seq}"[^>]*>', html)
    assert match, html[:500]
    tag = re.sub(r'data-client-id="[^"]*"', "", match[0])
    # Where the seq stands: the id's end, data-sort, data-seq (not inside the conversation id).
    tag = tag.replace(f'id="msg-{conversation_id}-{seq}"', 'id="msg-C-N"')
    return re.sub(rf'(data-(?:sort|seq))="{seq}"', r'\1="N"', tag)


@pytest.mark.django_db(transaction=True)
async def test_an_api_reply_reaches_the_dashboard_and_the_widget_as_a_click_does(
    agent: Agent, visitor: Visitor
) -> None:
    first = await send(visitor, "Where is my parcel?")
    conversation = first.conversation
    await database_sync_to_async(conversation_claim)(conversation=conversation, agent=agent)
    token = await database_sync_to_async(token_for)(agent)
    dashboard = await agent_socket(agent)
    await dashboard.send_json_to({"type": "resume", "conversation": conversation.pk, "after": 2})
    await frames_until(dashboard, "synced")  # the pane follows the chat from seq 2
    widget = await following(visitor, conversation.pk, after=2)
    try:
        # A click (the dashboard's HTTP reply), then the same through the API.
        by_click = await database_sync_to_async(_post)(
            f"/agents/conversations/{conversation.pk}/messages",
            None,
            {"body": "By click", "client_id": str(uuid.uuid4())},
            agent,
        )
        by_api = await database_sync_to_async(_post)(
            f"/api/v1/conversations/{conversation.pk}/messages/",
            token,
            {"body": "By API", "client_id": str(uuid.uuid4())},
        )
        assert (by_click, by_api) == (201, 201)
        seen_by_agent = await _frames_with(dashboard, "By API")
        assert "By click" in seen_by_agent
        seen_by_visitor = await _frames_with(widget, "By API")
        assert "By click" in seen_by_visitor
        # The same element, but for its seq and text: rendered by the same partial.
        for html in (seen_by_agent, seen_by_visitor):
            click = _message_element(html, conversation.pk, 3)
            api = _message_element(html, conversation.pk, 4)
            assert click == api
    finally:
        await dashboard.disconnect()
        await widget.disconnect()
