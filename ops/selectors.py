"""Reads for the operations pages and metrics: the database's view of the desk right now."""

from __future__ import annotations

from typing import TypedDict

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from agents.models import Agent
from agents.presence import live_connections, presence_map
from chat.models import Conversation, Inbox


class QueueData(TypedDict):
    inbox_id: int
    inbox_name: str
    waiting: int
    oldest_wait_seconds: float


class AgentStatus(TypedDict):
    id: int
    name: str
    username: str
    presence: str  # online, away or offline (agents.presence)
    availability: str  # the agent's own choice
    sockets: int  # dashboard sockets with a recent heartbeat, over all processes
    last_seen_at: str | None
    active_chats: int
    capacity: int


def conversations_by_status() -> dict[str, int]:
    """Every status, with 0 for those no conversation has (one grouped count)."""
    counts = dict.fromkeys(Conversation.Status.values, 0)
    for row in Conversation.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def queue_by_inbox() -> list[QueueData]:
    """Per inbox: how many conversations wait for an agent, and how long the first has waited
    (0 when none). Uses the (inbox, status, created) index."""
    now = timezone.now()
    waiting = {
        row["inbox_id"]: row
        for row in Conversation.objects.filter(status=Conversation.Status.WAITING)
        .order_by()
        .values("inbox_id")
        .annotate(n=Count("pk"), oldest=Min("created_at"))
    }
    result: list[QueueData] = []
    for inbox_id, name in Inbox.objects.order_by("pk").values_list("pk", "name"):
        row = waiting.get(inbox_id)
        result.append(
            {
                "inbox_id": inbox_id,
                "inbox_name": name,
                "waiting": row["n"] if row else 0,
                "oldest_wait_seconds": (now - row["oldest"]).total_seconds() if row else 0.0,
            }
        )
    return result


def agent_statuses() -> list[AgentStatus]:
    """Every active agent with their presence as the dashboards show it."""
    agents = list(
        Agent.objects.filter(user__is_active=True)
        .select_related("user")
        .annotate(
            active_chats=Count(
                "assigned_conversations",
                filter=Q(assigned_conversations__status=Conversation.Status.ACTIVE),
                distinct=True,
            )
        )
        .order_by("display_name", "pk")
    )
    presence = presence_map(agents)
    live = {
        row["agent_id"]: row
        for row in live_connections()
        .values("agent_id")
        .annotate(n=Count("pk"), seen=Max("last_seen_at"))
    }
    return [
        {
            "id": agent.pk,
            "name": agent.display_name,
            "username": agent.user.get_username(),
            "presence": presence[agent.pk],
            "availability": agent.availability,
            "sockets": live[agent.pk]["n"] if agent.pk in live else 0,
            "last_seen_at": live[agent.pk]["seen"].isoformat() if agent.pk in live else None,
            "active_chats": agent.active_chats,
            "capacity": agent.capacity,
        }
        for agent in agents
    ]
