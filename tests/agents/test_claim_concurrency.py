"""Two agents press Claim on the same chat at the same moment: exactly one wins and the other
is told who did. Real threads, real connections, a barrier so both claims start together."""

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
