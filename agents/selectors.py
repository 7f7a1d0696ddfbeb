"""Reads for the dashboard, always scoped to the inboxes an agent works in."""

from __future__ import annotations

from typing import TypedDict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Max
from django.http import Http404

from agents.models import Agent
from chat.events import ConversationData, conversation_data
from chat.models import Conversation
from chat.selectors import with_preview

LIST_LIMIT = 200
ENDED_LIMIT = 30


class ConversationLists(TypedDict):
    waiting: list[ConversationData]
    active: list[ConversationData]
    ended: list[ConversationData]


def agent_for_user(user: AbstractBaseUser | AnonymousUser) -> Agent | None:
    """The user's agent profile, if the user is (still, per the database) active."""
    if not user.is_authenticated:
        return None
    return Agent.objects.filter(user_id=user.pk, user__is_active=True).first()


def conversations_for_agent(agent: Agent):
    return Conversation.objects.filter(inbox__in=agent.inboxes.values("pk"))


def conversation_for_agent(*, agent: Agent, pk: int) -> Conversation:
    """The conversation, if `agent` works in its inbox; 404 otherwise (not 403: ids are not
    confirmed to people who may not see them)."""
    conversation = (
        conversations_for_agent(agent)
        .select_related("inbox", "visitor", "assigned_agent")
        .filter(pk=pk)
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation")
    return conversation


def conversation_lists(*, agent: Agent) -> ConversationLists:
    """Waiting (oldest first: first come, first served), active (latest activity first), and the
    most recently ended."""
    base = with_preview(conversations_for_agent(agent))
    waiting = base.filter(status=Conversation.Status.WAITING).order_by("created_at", "pk")[
        :LIST_LIMIT
    ]
    active = base.filter(status=Conversation.Status.ACTIVE).order_by("-last_message_at", "-pk")[
        :LIST_LIMIT
    ]
    ended = base.filter(status=Conversation.Status.ENDED).order_by("-ended_at", "-pk")[:ENDED_LIMIT]
    return {
        "waiting": [conversation_data(c, preview=c.preview) for c in waiting],
        "active": [conversation_data(c, preview=c.preview) for c in active],
        "ended": [conversation_data(c, preview=c.preview) for c in ended],
    }


def inboxes_last_activity(agent: Agent) -> str | None:
    """The newest message time across the agent's inboxes (ISO, comparable as text with the
    events' `last_message_at`), through the (inbox, last_message_at) index."""
    latest = conversations_for_agent(agent).aggregate(latest=Max("last_message_at"))["latest"]
    return latest.isoformat() if latest else None
