"""Agent presence (agents/presence.py): sockets, grace periods, sweeps and the away status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents import presence
from agents.models import Activity, Agent, AgentConnection
from chat.models import Inbox
from tests.agents.helpers import connect, logged_in

pytestmark = pytest.mark.django_db


def close(channel: str, *, grace_over: bool = True) -> None:
    """A socket closes; with `grace_over`, its grace period has passed and it settles."""
    presence.connection_close(channel_name=channel)
    if grace_over:
        AgentConnection.objects.filter(channel_name=channel).update(
            last_seen_at=timezone.now() - timedelta(hours=1)
        )
        presence.presence_settle(channel_name=channel)


def presence_log(agent: Agent) -> list[str]:
    return list(
        Activity.objects.filter(actor=agent).order_by("pk").values_list("detail", flat=True)
    )


def test_presence_follows_the_sockets_and_counts_many_tabs_as_one(agent: Agent) -> None:
    assert presence.agent_presence(agent) == "offline"
    first, second = connect(agent), connect(agent)
    assert presence.agent_presence(agent) == "online"
    close(first)
    assert presence.agent_presence(agent) == "online"  # the other tab still counts
    close(second, grace_over=False)
    assert presence.agent_presence(agent) == "online"  # within the grace period
    close(second)
    assert presence.agent_presence(agent) == "offline"
    assert presence_log(agent) == ["connected", "offline"]  # one of each, not one per tab


def test_a_reload_within_the_grace_period_changes_nothing(agent: Agent) -> None:
    old = connect(agent)
    close(old, grace_over=False)
    connect(agent)  # the reloaded page
    close(old)  # the old tab's grace ends
    assert presence.agent_presence(agent) == "online"
    assert presence_log(agent) == ["connected"]


def test_an_agent_whose_server_stopped_during_the_grace_is_still_announced_offline(
    agent: Agent,
) -> None:
    channel = connect(agent)
    close(channel, grace_over=False)  # ... and the process dies before its settle task runs
    AgentConnection.objects.update(last_seen_at=timezone.now() - timedelta(hours=1))
    presence.presence_sweep()  # housekeeping in any other process
    assert presence_log(agent) == ["connected", "offline"]
    presence.presence_sweep()  # a second sweep (or a late settle) announces nothing more
    presence.presence_settle(channel_name=channel)
    assert presence_log(agent) == ["connected", "offline"]


def test_away_is_the_agents_choice_and_offline_wins_over_it(agent: Agent, inbox: Inbox) -> None:
    channel = connect(agent)
    assert presence.inbox_has_agent_online(inbox)
    agent = presence.availability_set(agent=agent, availability="away")
    assert presence.agent_presence(agent) == "away"
    assert not presence.inbox_has_agent_online(inbox)
    close(channel)
    assert presence.agent_presence(agent) == "offline"
    with pytest.raises(ValueError, match="unknown availability"):
        presence.availability_set(agent=agent, availability="asleep")


def test_a_tab_whose_server_died_stops_counting_and_is_swept(agent: Agent) -> None:
    connect(agent)
    stale = timezone.now() - timedelta(minutes=5)
    AgentConnection.objects.filter(agent=agent).update(last_seen_at=stale)
    assert presence.agent_presence(agent) == "offline"  # by derivation, before any sweep
    presence.presence_sweep()
    assert not AgentConnection.objects.filter(agent=agent).exists()


def test_the_process_keeps_its_tabs_alive_and_names_the_swept_ones(agent: Agent) -> None:
    channel = connect(agent)
    AgentConnection.objects.update(last_seen_at=timezone.now() - timedelta(minutes=5))
    assert presence.connections_seen(channel_names=[channel, "gone"]) == ["gone"]
    assert presence.agent_presence(agent) == "online"


def test_the_status_menu_accepts_online_or_away_only(agent: Agent) -> None:
    client = logged_in(agent)
    url = reverse("agents:availability")
    assert client.post(url, {"availability": "asleep"}).status_code == 422
    assert client.post(url, {"availability": "away"}).status_code == 204
    agent.refresh_from_db()
    assert agent.availability == "away"
