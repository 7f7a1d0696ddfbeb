"""Unread counts (read_mark, unread_count): each agent's read watermark."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.selectors import conversation_lists, unread_count
from agents.services import conversation_claim, read_mark
from chat.models import Visitor
from tests.agents.helpers import chat

pytestmark = pytest.mark.django_db


def test_unread_counts_the_visitors_messages_after_the_agents_watermark(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor, "one")
    chat(visitor, "two")
    assert conversation_lists(agent=agent)["unread"] == {conversation.pk: 2}
    assert read_mark(agent=agent, conversation_id=conversation.pk, seq=1) == 1
    assert unread_count(agent=agent, conversation_id=conversation.pk)[0] == 1
    assert read_mark(agent=agent, conversation_id=conversation.pk, seq=99) == 2  # capped
    assert read_mark(agent=agent, conversation_id=conversation.pk, seq=0) == 2  # never back
    assert unread_count(agent=agent, conversation_id=conversation.pk)[0] == 0
    # Agents' own lines do not count, and each agent has their own watermark.
    conversation_claim(conversation=conversation, agent=agent)
    assert unread_count(agent=agent, conversation_id=conversation.pk)[0] == 0
    assert unread_count(agent=second_agent, conversation_id=conversation.pk)[0] == 2
