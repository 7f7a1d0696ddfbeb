"""Presence: online, away or offline, per agent, whatever the number of tabs or server processes.

- A dashboard socket registers an AgentConnection on connect and, while it is open, the server
  refreshes its `last_seen_at` on a timer of its own (a background tab's throttled pings do not
  matter; daphne's own keepalive closes a socket whose client vanished). An agent is
  *connected* while one of their rows was seen within SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS, so a
  server that died without saying goodbye stops counting by itself.
- A closed socket's row is not deleted but set to expire after the grace period: a reload (a
  new row within the grace) changes nothing, and if the process stops before the grace ends,
  the next sweep anywhere still announces the agent offline.
- The row's deletion decides who announces "offline": whoever deletes an agent's last row
  (the closing socket's settle task or any process's sweep), exactly once.
- A connected agent is online or away by their own choice (`Agent.availability`); anyone else is
  offline.
- Every change is published to the agent's inboxes (dashboards show the team live) and to the
  inboxes' widgets (whether anyone is online to answer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from agents.models import Activity, Agent, AgentConnection
from chat.availability import availability_event
from chat.events import publish_now
from chat.groups import inbox_group, inbox_widgets_group
from chat.hours import is_open
from chat.models import Inbox
from chat.payloads import Presence, PresenceEvent
from chat.signals import assignment_needed
from supportdesk.logs import log_on_commit

logger = logging.getLogger(__name__)


def _fresh_since() -> timezone.datetime:
    return timezone.now() - timedelta(seconds=settings.SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS)


def live_connections() -> QuerySet[AgentConnection]:
    """The dashboard sockets connected now: seen within SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS."""
    return AgentConnection.objects.filter(last_seen_at__gte=_fresh_since())


def connected_agents() -> QuerySet[Agent]:
    """Agents with at least one live dashboard socket."""
    live = live_connections().filter(agent=OuterRef("pk"))
    return Agent.objects.filter(Exists(live), user__is_active=True)


def agent_presence(agent: Agent) -> Presence:
    if not connected_agents().filter(pk=agent.pk).exists():
        return "offline"
    return "away" if agent.availability == Agent.Availability.AWAY else "online"


def presence_map(agents: Iterable[Agent]) -> dict[int, Presence]:
    """Presence of many agents in one query."""
    agents = list(agents)
    connected = set(
        connected_agents().filter(pk__in=[a.pk for a in agents]).values_list("pk", flat=True)
    )
    return {
        a.pk: ("offline" if a.pk not in connected else a.availability)  # type: ignore[misc]
        for a in agents
    }


def inbox_has_agent_online(inbox: Inbox | int) -> bool:
    inbox_id = inbox if isinstance(inbox, int) else inbox.pk
    return (
        connected_agents().filter(inboxes=inbox_id, availability=Agent.Availability.ONLINE).exists()
    )


def connection_open(*, agent: Agent, channel_name: str) -> None:
    """A dashboard socket opened. Publishes (and assigns waiting chats) if the agent came online."""
    was = agent_presence(agent)
    AgentConnection.objects.update_or_create(
        channel_name=channel_name, defaults={"agent": agent, "last_seen_at": timezone.now()}
    )
    _changed(agent, was)


SEEN_CHUNK = 500  # channel names per UPDATE


def connections_seen(*, channel_names: list[str]) -> list[str]:
    """A process's dashboard sockets are still open: refresh all their rows, in one UPDATE per
    SEEN_CHUNK. Returns the names whose rows are gone (swept as stale after a long stall): those
    sockets register again."""
    now = timezone.now()
    swept: list[str] = []
    for start in range(0, len(channel_names), SEEN_CHUNK):
        chunk = channel_names[start : start + SEEN_CHUNK]
        rows = AgentConnection.objects.filter(channel_name__in=chunk)
        if rows.update(last_seen_at=now) < len(chunk):
            present = set(rows.values_list("channel_name", flat=True))
            swept += [name for name in chunk if name not in present]
    return swept


def connection_close(*, channel_name: str) -> None:
    """A socket closed: its row now expires after the grace period (see `presence_settle`)."""
    expires = timezone.now() + timedelta(seconds=settings.SUPPORTDESK_PRESENCE_GRACE_SECONDS)
    timeout = timedelta(seconds=settings.SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS)
    AgentConnection.objects.filter(channel_name=channel_name).update(last_seen_at=expires - timeout)


def presence_settle(*, channel_name: str) -> None:
    """After a close and the grace period: remove the row and, if it was the agent's last,
    announce them offline."""
    _expire(AgentConnection.objects.filter(channel_name=channel_name))


@transaction.atomic
def availability_set(*, agent: Agent, availability: str) -> Agent:
    """The agent's own choice: online (takes chats) or away (keeps their chats, gets no new)."""
    if availability not in Agent.Availability.values:
        raise ValueError(f"unknown availability {availability!r}")
    locked = Agent.objects.select_for_update().get(pk=agent.pk)
    was = agent_presence(locked)
    if locked.availability != availability:
        locked.availability = availability
        locked.save(update_fields=["availability"])
        Activity.objects.create(actor=locked, verb=Activity.Verb.STATUS, detail=availability)
        log_on_commit(
            logger,
            "agent availability set",
            event="agent.availability",
            agent_id=locked.pk,
            availability=availability,
        )
    transaction.on_commit(lambda: _changed(locked, was, record=False))
    return locked


def presence_sweep() -> None:
    """Remove expired rows (closed sockets past their grace, servers that vanished) and
    announce the agents whose last row that was."""
    _expire(AgentConnection.objects.all())


def _expire(rows: QuerySet[AgentConnection]) -> None:
    for pk, agent_id in rows.filter(last_seen_at__lt=_fresh_since()).values_list("pk", "agent_id"):
        deleted, _ = AgentConnection.objects.filter(pk=pk).delete()
        if not deleted:
            continue  # another process removed it, and announces it if need be
        if AgentConnection.objects.filter(agent_id=agent_id).exists():
            continue  # another tab is open, or still in its own grace period
        agent = Agent.objects.filter(pk=agent_id).first()
        if agent is not None:
            _changed(agent, "away" if agent.availability == "away" else "online")


def _changed(agent: Agent, was: Presence, *, record: bool = True) -> None:
    now_presence = agent_presence(agent)
    if now_presence == was:
        return
    logger.info(
        "agent status changed",
        extra={"event": "agent.status", "agent_id": agent.pk, "was": was, "now": now_presence},
    )
    if record and (was == "offline" or now_presence == "offline"):
        Activity.objects.create(
            actor=agent,
            verb=Activity.Verb.STATUS,
            detail="offline" if now_presence == "offline" else "connected",
        )
    presence_publish(agent, now_presence)
    if now_presence == "online":
        # Who takes the waiting chats may have changed: assignment reacts (agents.apps).
        for inbox_id in agent.visible_inboxes().values_list("pk", flat=True):
            assignment_needed.send(sender=Agent, inbox_id=inbox_id)


def presence_publish(agent: Agent, presence: Presence) -> None:
    version = int(timezone.now().timestamp() * 1000)
    inboxes = list(agent.visible_inboxes())
    event: PresenceEvent = {
        "type": "agent.presence",
        "agent_id": agent.pk,
        "name": agent.display_name,
        "presence": presence,
        "version": version,
    }
    publish_now([inbox_group(inbox.pk) for inbox in inboxes], event)
    for inbox in inboxes:
        publish_now([inbox_widgets_group(inbox.pk)], availability_event(inbox, version))


_open_as_published: dict[int, bool] = {}


def publish_opening_changes(now: datetime | None = None) -> list[int]:
    """Tell the widgets of inboxes that opened or closed since this process last looked (run by
    housekeeping): business hours change availability without any event of their own."""
    changed = []
    version = int(timezone.now().timestamp() * 1000)
    for inbox in Inbox.objects.filter(opens_at__isnull=False, closes_at__isnull=False):
        open_now = is_open(inbox, now)
        if _open_as_published.get(inbox.pk) not in (None, open_now):
            publish_now([inbox_widgets_group(inbox.pk)], availability_event(inbox, version))
            changed.append(inbox.pk)
        _open_as_published[inbox.pk] = open_now
    return changed
