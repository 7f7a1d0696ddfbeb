"""The agents' answers to the widget's questions about faces (chat.faces): handed in at start-up
by `agents.apps`, so chat asks without importing this layer."""

from __future__ import annotations

from django.db.models import Q
from django.db.models.fields.files import FieldFile

from agents.models import Agent
from agents.presence import connected_agents
from chat.faces import Face


def inbox_team_faces(inbox_id: int, limit: int) -> list[Face]:
    """A few agents of the inbox who are online now (connected, not away): photos first."""
    agents = (
        connected_agents()
        .filter(inboxes=inbox_id, availability=Agent.Availability.ONLINE)
        .order_by("-avatar", "display_name")
        .only("pk", "display_name", "avatar")[:limit]
    )
    return [Face(agent_id=a.pk, name=a.display_name, photo=bool(a.avatar)) for a in agents]


def inbox_agent_face(inbox_id: int, agent_id: int) -> tuple[str, FieldFile | None] | None:
    """The name and photo of an agent who may appear in this inbox's widget: a member of it,
    or an admin (who may take any chat); None for anyone else."""
    agent = (
        Agent.objects.filter(Q(inboxes=inbox_id) | Q(role=Agent.Role.ADMIN), pk=agent_id)
        .only("display_name", "avatar")
        .first()
    )
    if agent is None:
        return None
    return agent.display_name, (agent.avatar or None)
