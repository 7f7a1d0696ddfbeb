"""Automatic assignment (agents/assignment.py): least busy online agent, queue, capacity."""

from __future__ import annotations

import pytest

from agents import presence
from agents.assignment import auto_assign
from agents.models import Activity, Agent
from chat.models import Conversation, Inbox
from chat.services import conversation_end
from tests.agents.helpers import chat, connect, new_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def auto_inbox(inbox: Inbox) -> Inbox:
    inbox.assignment = Inbox.Assignment.AUTO
    inbox.save()
    return inbox


def test_auto_assignment_gives_the_least_busy_online_agent_and_round_robins_ties(
    auto_inbox: Inbox, agent: Agent, second_agent: Agent, django_capture_on_commit_callbacks
) -> None:
    connect(agent)
    connect(second_agent)
    owners = []
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            conversation = chat(new_visitor(auto_inbox))
        conversation.refresh_from_db()
        assert conversation.status == Conversation.Status.ACTIVE
        owners.append(conversation.assigned_agent.display_name)
    # Alternating: equal load, and the one assigned longest ago goes first.
    assert owners[0] != owners[1]
    assert owners[2] != owners[3]
    assert sorted(owners) == ["Alice", "Alice", "Bob", "Bob"]
    assert Activity.objects.filter(verb=Activity.Verb.ASSIGN).count() == 4


def test_when_nobody_is_free_chats_wait_and_the_oldest_goes_to_whoever_frees_up(
    auto_inbox: Inbox, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    agent.capacity = 1
    agent.save()
    connect(agent)
    with django_capture_on_commit_callbacks(execute=True):
        first = chat(new_visitor(auto_inbox))
        second = chat(new_visitor(auto_inbox))
        third = chat(new_visitor(auto_inbox))
    statuses = {c.pk: c.status for c in Conversation.objects.all()}
    assert statuses == {first.pk: "active", second.pk: "waiting", third.pk: "waiting"}
    with django_capture_on_commit_callbacks(execute=True):
        conversation_end(conversation=first, by=agent)
    second.refresh_from_db()
    third.refresh_from_db()
    assert (second.status, second.assigned_agent) == ("active", agent)  # the oldest first
    assert third.status == "waiting"


def test_an_agent_coming_online_takes_the_queue_and_an_away_one_does_not(
    auto_inbox: Inbox, agent: Agent, second_agent: Agent, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        queued = chat(new_visitor(auto_inbox))
    queued.refresh_from_db()
    assert queued.status == "waiting"  # nobody online
    connect(presence.availability_set(agent=second_agent, availability="away"))
    queued.refresh_from_db()
    assert queued.status == "waiting"
    with django_capture_on_commit_callbacks(execute=True):
        connect(agent)
    queued.refresh_from_db()
    assert queued.assigned_agent == agent


def test_a_manual_inbox_is_never_auto_assigned(
    inbox: Inbox, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    connect(agent)
    with django_capture_on_commit_callbacks(execute=True):
        conversation = chat(new_visitor(inbox))
    assert auto_assign(inbox_ids=[inbox.pk]) == []
    conversation.refresh_from_db()
    assert conversation.status == "waiting"


def test_assignment_respects_capacity_across_inboxes(
    auto_inbox: Inbox, other_inbox: Inbox, agent: Agent
) -> None:
    other_inbox.assignment = Inbox.Assignment.AUTO
    other_inbox.save()
    agent.inboxes.add(other_inbox)
    agent.capacity = 2
    agent.save()
    connect(agent)
    for box in (auto_inbox, other_inbox, auto_inbox, other_inbox):
        chat(new_visitor(box))
    auto_assign(inbox_ids=[auto_inbox.pk, other_inbox.pk])
    assert agent.assigned_conversations.filter(status="active").count() == 2
    assert Conversation.objects.filter(status="waiting").count() == 2


def test_a_snoozed_waiting_chat_is_assigned_only_once_it_wakes(
    auto_inbox: Inbox, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    """Snoozed until the visitor writes, a waiting chat is nobody's to answer yet: automatic
    assignment leaves it, and takes it when it wakes."""
    from agents.triage import conversation_snooze, conversation_unsnooze

    conversation = chat(new_visitor(auto_inbox))  # nobody online: it waits
    conversation_snooze(conversation=conversation, by=agent, until=None)
    connect(agent)
    assert auto_assign(inbox_ids=[auto_inbox.pk]) == []
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING

    conversation_unsnooze(conversation=conversation, by=agent)
    assert [c.pk for c in auto_assign(inbox_ids=[auto_inbox.pk])] == [conversation.pk]
