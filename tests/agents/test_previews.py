"""List previews (conversation_lists, chat_message_event): what was written, not system lines."""

from __future__ import annotations

import uuid

import pytest

from agents.models import Agent
from agents.selectors import conversation_lists
from agents.services import agent_reply, conversation_claim, note_create
from chat.models import Visitor
from chat.payloads import chat_message_event
from chat.services import conversation_end
from tests.agents.helpers import chat

pytestmark = pytest.mark.django_db


def test_list_previews_show_what_was_written_not_system_lines_or_notes(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor, "Where is my parcel?")
    conversation_claim(conversation=conversation, agent=agent)  # "Alice joined the chat."
    note = note_create(
        conversation=conversation, agent=agent, body="check DHL", client_id=uuid.uuid4()
    ).message
    assert conversation_lists(agent=agent)["active"][0]["preview"] == "Where is my parcel?"
    assert chat_message_event(note)["conversation"]["preview"] == "Where is my parcel?"
    reply = agent_reply(
        conversation=conversation, agent=agent, body="On its way", client_id=uuid.uuid4()
    ).message
    assert chat_message_event(reply)["conversation"]["preview"] == "On its way"
    conversation_end(conversation=conversation, by=agent)  # "Alice ended the chat."
    assert conversation_lists(agent=agent)["ended"][0]["preview"] == "On its way"
