"""Reads for the API: a token from its plaintext, the rows each resource lists."""

from __future__ import annotations

import hmac
import re
from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce

from agents.models import Agent, CannedResponse
from agents.selectors import conversations_for_agent
from api.models import ApiToken
from api.services import TOKEN_PREFIX, secret_hash
from chat.models import Conversation, Inbox, Visitor
from chat.payloads import with_labels

TOKEN_FORMAT = re.compile(rf"{TOKEN_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{20,100}})")


def api_token_for(plaintext: str) -> ApiToken | None:
    """The live token `plaintext` is, with its agent and user (or its bot) loaded; None for
    anything else (malformed, unknown, revoked, or the agent's user deactivated). One query."""
    match = TOKEN_FORMAT.fullmatch(plaintext)
    if match is None:
        return None
    prefix, secret = match.groups()
    token = (
        ApiToken.objects.select_related("agent__user", "bot")
        .filter(Q(agent__user__is_active=True) | Q(bot__isnull=False))
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, secret_hash(secret)):
        return None
    return token


def conversations_updated(agent: Agent) -> QuerySet[Conversation]:
    """The conversations `agent` may see, with `updated_at`: the newest message's time (every
    claim, transfer and ending adds a system line, so it moves with them), else the creation."""
    return (
        with_labels(conversations_for_agent(agent))  # `labels` (api.serializers)
        .select_related("inbox", "visitor", "assigned_agent")
        .annotate(updated_at=Coalesce(F("last_message_at"), F("created_at")))
    )


def conversations_filtered(
    agent: Agent,
    *,
    status: str | None = None,
    inbox_id: int | None = None,
    agent_id: int | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Conversation]:
    rows = conversations_updated(agent)
    if status:
        rows = rows.filter(status=status)
    if inbox_id is not None:
        rows = rows.filter(inbox_id=inbox_id)
    if agent_id is not None:
        rows = rows.filter(assigned_agent_id=agent_id)
    if updated_since is not None:
        rows = rows.filter(updated_at__gte=updated_since)
    return rows


def visitors_for_agent(agent: Agent) -> QuerySet[Visitor]:
    """Visitors of the agent's inboxes (every one, for an admin)."""
    if agent.is_admin:
        return Visitor.objects.all()
    return Visitor.objects.filter(inbox__in=agent.inboxes.values("pk"))


def visitor_for_agent(*, agent: Agent, pk: int) -> Visitor | None:
    return visitors_for_agent(agent).filter(pk=pk).first()


def saved_replies_for_agent(
    agent: Agent, *, inbox_id: int | None = None
) -> QuerySet[CannedResponse]:
    """The agent's own saved replies and the shared ones of their inboxes (of `inbox_id` only,
    if given)."""
    inboxes = agent.visible_inboxes()
    if inbox_id is not None:
        inboxes = inboxes.filter(pk=inbox_id)
    return (
        CannedResponse.objects.filter(Q(agent=agent) | Q(inbox__in=inboxes.values("pk")))
        .select_related("inbox")
        .order_by("shortcut", "pk")
    )


def inboxes_for_agent(agent: Agent) -> QuerySet[Inbox]:
    return agent.visible_inboxes().order_by("name", "pk")
