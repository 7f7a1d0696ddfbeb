"""Automatic assignment: the oldest waiting chat goes to the online agent with the fewest active
chats below their capacity; ties go round-robin (the agent assigned longest ago first).

`auto_assign` runs whenever that answer may have changed: a chat arrives, an agent comes online,
a chat ends or is transferred away. Housekeeping runs it again every few seconds, so a trigger
lost to a crash delays an assignment but never strands a chat. When nobody is free, chats wait.

Concurrency: a round holds its inbox's row lock (one round per inbox at a time) and the chosen
agent's row lock while it recounts their chats, so two inboxes' rounds can never push one agent
past their capacity.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from agents.models import Activity, Agent
from agents.presence import connected_agents
from agents.services import AlreadyAssigned, conversation_assign
from chat.models import Conversation, Inbox
from chat.services import ConversationEnded

logger = logging.getLogger(__name__)

MAX_PER_ROUND = 1000
RETRY = object()  # an agent claimed the chat by hand meanwhile: look again
ACTIVE = Q(assigned_conversations__status=Conversation.Status.ACTIVE)


def auto_assign(*, inbox_ids: Iterable[int]) -> list[Conversation]:
    """Assign waiting chats of the automatic inboxes among `inbox_ids`; the chats assigned."""
    assigned: list[Conversation] = []
    automatic = Inbox.objects.filter(pk__in=list(inbox_ids), assignment=Inbox.Assignment.AUTO)
    for inbox_id in automatic.values_list("pk", flat=True):
        for _ in range(MAX_PER_ROUND):
            outcome = _assign_next(inbox_id)
            if outcome is None:
                break
            if outcome is not RETRY:
                assigned.append(outcome)
    return assigned


def free_agents(inbox_id: int):
    """Online agents of the inbox below their capacity, the one to pick first."""
    return (
        connected_agents()
        .filter(inboxes=inbox_id, availability=Agent.Availability.ONLINE)
        .annotate(active=Count("assigned_conversations", filter=ACTIVE))
        .filter(active__lt=F("capacity"))
        .order_by("active", F("last_assigned_at").asc(nulls_first=True), "pk")
    )


@transaction.atomic
def _assign_next(inbox_id: int) -> Conversation | object | None:
    # FOR NO KEY UPDATE (PostgreSQL): still one round per inbox, but inserts that reference
    # the inbox or the agent (a new chat, a claim's Activity) are not blocked, and a claim
    # holding the conversation's lock cannot deadlock against us.
    Inbox.objects.select_for_update(no_key=True).filter(pk=inbox_id).values_list("pk").get()
    waiting = (
        # A snoozed chat waits for its time or the visitor's next message (agents.triage),
        # not for an agent: it is assigned once it wakes.
        Conversation.objects.filter(
            inbox_id=inbox_id, status=Conversation.Status.WAITING, snoozed_at__isnull=True
        )
        .order_by("created_at", "pk")
        .first()
    )
    if waiting is None:
        return None
    for candidate in free_agents(inbox_id)[:5]:
        agent = Agent.objects.select_for_update(no_key=True).get(pk=candidate.pk)
        # Recount under the agent's lock: another inbox's round may just have given them one.
        active = agent.assigned_conversations.filter(status=Conversation.Status.ACTIVE).count()
        if active >= agent.capacity:
            continue
        try:
            conversation = conversation_assign(
                conversation=waiting, agent=agent, only_if_waiting=True
            )
        except (AlreadyAssigned, ConversationEnded):
            return RETRY  # claimed or ended meanwhile: look at the queue again
        agent.last_assigned_at = timezone.now()
        agent.save(update_fields=["last_assigned_at"])
        Activity.objects.create(
            verb=Activity.Verb.ASSIGN, conversation=conversation, target_agent=agent
        )
        return conversation
    return None
