"""Races with real threads and real connections (PostgreSQL in CI), a barrier so both sides
start together. Two agents press Claim on the same chat at the same moment: exactly one wins and
the other is told who did. Two assignment rounds share one agent: capacity holds."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from agents.models import Agent
from agents.services import AlreadyAssigned, conversation_claim
from chat.models import Conversation, Message, Visitor
from chat.services import visitor_message_send

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 10


def claim_together(conversation: Conversation, claimants: list[Agent]) -> dict[str, str]:
    """Each claimant claims in a thread of its own (its own connection), released together."""
    barrier = threading.Barrier(len(claimants))
    outcomes: dict[str, str] = {}

    def claim(claimant: Agent) -> None:
        try:
            barrier.wait(timeout=10)
            conversation_claim(conversation=conversation, agent=claimant)
            outcomes[claimant.display_name] = "won"
        except AlreadyAssigned as exc:
            outcomes[claimant.display_name] = str(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(claimant,)) for claimant in claimants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_simultaneous_claims_exactly_one_wins(agent: Agent, second_agent: Agent, inbox) -> None:
    for _ in range(ROUNDS):
        visitor = Visitor.objects.create(inbox=inbox)
        conversation = visitor_message_send(
            visitor=visitor, body="who takes me?", client_id=uuid.uuid4()
        ).message.conversation

        outcomes = claim_together(conversation, [agent, second_agent])

        winners = [name for name, outcome in outcomes.items() if outcome == "won"]
        assert len(winners) == 1, outcomes
        loser = ({"Alice", "Bob"} - set(winners)).pop()
        assert outcomes[loser] == f"{winners[0]} already took this chat."
        conversation.refresh_from_db()
        assert conversation.assigned_agent.display_name == winners[0]
        joined = Message.objects.filter(conversation=conversation, sender_kind="system")
        assert [m.body for m in joined] == [f"{winners[0]} joined the chat."]


def test_simultaneous_assignment_rounds_never_exceed_capacity(
    agent: Agent, inbox, other_inbox
) -> None:
    """Two inboxes' automatic-assignment rounds run at the same moment for one agent who works
    in both: between them they give exactly `capacity` chats, each exactly once."""
    from django.utils import timezone

    from agents.assignment import auto_assign
    from agents.models import AgentConnection
    from chat.models import Inbox

    agent.inboxes.add(other_inbox)
    agent.capacity = 3
    agent.save()
    for box in (inbox, other_inbox):
        box.assignment = Inbox.Assignment.AUTO
        box.save()
    for round_ in range(ROUNDS // 2):
        Conversation.objects.filter(status="active").update(status="ended", ended_at=timezone.now())
        AgentConnection.objects.filter(agent=agent).delete()  # offline while the queue fills
        for box in (inbox, other_inbox):
            for _ in range(4):
                visitor_message_send(
                    visitor=Visitor.objects.create(inbox=box), body="hi", client_id=uuid.uuid4()
                )
        AgentConnection.objects.create(
            agent=agent, channel_name=f"test.{round_}", last_seen_at=timezone.now()
        )
        barrier = threading.Barrier(2)

        def run(inbox_id: int, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=10)
                auto_assign(inbox_ids=[inbox_id])
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(box.pk,)) for box in (inbox, other_inbox)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        active = Conversation.objects.filter(status="active", assigned_agent=agent)
        assert active.count() == 3
        for conversation in active:
            joined = conversation.messages.filter(sender_kind="system").count()
            assert joined == 1, f"conversation {conversation.pk} announced {joined} joins"
