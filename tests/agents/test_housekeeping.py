"""Housekeeping (agents/housekeeping.py): auto-ending chats after inactivity."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.models import Activity, Agent
from agents.services import agent_reply, conversation_claim
from chat.models import Conversation, Inbox, Visitor
from chat.services import visitor_message_send
from tests.agents.helpers import chat

pytestmark = pytest.mark.django_db


def answered(visitor: Visitor, agent: Agent, *, minutes_ago: float) -> Conversation:
    """A chat the agent answered `minutes_ago`, the visitor silent since."""
    conversation = chat(visitor)
    agent_reply(
        conversation=conversation, agent=agent, body="Anything else?", client_id=uuid.uuid4()
    )
    then = timezone.now() - timedelta(minutes=minutes_ago)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_visitor_message_at=then - timedelta(minutes=1), last_agent_message_at=then
    )
    return conversation


def test_housekeeping_ends_chats_whose_visitor_went_quiet_after_an_answer(
    inbox: Inbox, visitor: Visitor, visitor_b: Visitor, agent: Agent
) -> None:
    inbox.auto_end_minutes = 30
    inbox.save()
    quiet = answered(visitor, agent, minutes_ago=31)
    lively = answered(visitor_b, agent, minutes_ago=29)
    call_command("housekeeping")
    quiet.refresh_from_db()
    lively.refresh_from_db()
    assert quiet.status == "ended"
    assert lively.status == "active"
    assert quiet.messages.order_by("-seq").first().body == (
        "This chat was closed after 30 minutes of inactivity."
    )
    assert Activity.objects.get(verb="end", conversation=quiet).detail == "inactivity"
    # The visitor writing again starts a new chat linked to the closed one.
    assert chat(visitor).previous == quiet


def test_auto_end_never_closes_on_a_visitor_who_is_waiting_for_us(
    inbox: Inbox, visitor: Visitor, visitor_b: Visitor, agent: Agent
) -> None:
    inbox.auto_end_minutes = 1
    inbox.save()
    queued = chat(visitor)  # in the queue: nobody has answered
    unanswered = chat(visitor_b)
    conversation_claim(conversation=unanswered, agent=agent)  # joined, but never wrote
    long_ago = timezone.now() - timedelta(days=3)
    Conversation.objects.update(last_visitor_message_at=long_ago, last_message_at=long_ago)
    call_command("housekeeping")
    assert set(Conversation.objects.values_list("status", flat=True)) == {"waiting", "active"}

    # The agent answered, then the visitor wrote again: the visitor has the last word.
    agent_reply(conversation=unanswered, agent=agent, body="On it", client_id=uuid.uuid4())
    visitor_message_send(visitor=visitor_b, body="Thanks, and?", client_id=uuid.uuid4())
    Conversation.objects.filter(pk=unanswered.pk).update(
        last_agent_message_at=long_ago, last_visitor_message_at=long_ago + timedelta(seconds=1)
    )
    call_command("housekeeping")
    unanswered.refresh_from_db()
    queued.refresh_from_db()
    assert (queued.status, unanswered.status) == ("waiting", "active")


def test_without_an_auto_end_setting_chats_stay_open(
    inbox: Inbox, visitor: Visitor, agent: Agent
) -> None:
    conversation = answered(visitor, agent, minutes_ago=3 * 24 * 60)
    call_command("housekeeping")
    conversation.refresh_from_db()
    assert conversation.status == "active"
    inbox.auto_end_minutes = 0  # 0 means off, not "end everything now"
    inbox.save()
    call_command("housekeeping")
    conversation.refresh_from_db()
    assert conversation.status == "active"


def test_the_inactivity_line_says_one_minute(inbox: Inbox, visitor: Visitor, agent: Agent) -> None:
    inbox.auto_end_minutes = 1
    inbox.save()
    conversation = answered(visitor, agent, minutes_ago=2)
    call_command("housekeeping")
    assert conversation.messages.order_by("-seq").first().body == (
        "This chat was closed after 1 minute of inactivity."
    )
