"""Agent replies (agent_reply): the agent's clock and its migration backfill."""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.apps import apps
from django.db import connection

from agents.models import Agent
from agents.services import agent_reply, conversation_claim, note_create
from chat.models import Conversation, Visitor
from tests.agents.helpers import chat

pytestmark = pytest.mark.django_db


def test_only_agent_messages_move_the_agents_clock_and_the_migration_fills_it_in(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)  # a system line
    note_create(conversation=conversation, agent=agent, body="vip", client_id=uuid.uuid4())
    conversation.refresh_from_db()
    assert conversation.last_agent_message_at is None
    first = agent_reply(conversation=conversation, agent=agent, body="Hi", client_id=uuid.uuid4())
    second = agent_reply(conversation=conversation, agent=agent, body="?", client_id=uuid.uuid4())
    chat(visitor, "Hello")
    conversation.refresh_from_db()
    assert conversation.last_agent_message_at == second.message.created_at
    assert conversation.first_response_at == first.message.created_at

    hello = next(m for m in conversation.messages.all() if m.body == "Hello")
    # As before the migration; and as before 0004, which left the visitor's time out.
    Conversation.objects.update(last_agent_message_at=None, last_visitor_message_at=None)
    migration = importlib.import_module("chat.migrations.0015_conversation_last_agent_message")
    migration.backfill(apps, connection.schema_editor())
    conversation.refresh_from_db()
    assert conversation.last_agent_message_at == second.message.created_at
    assert conversation.last_visitor_message_at == hello.created_at
