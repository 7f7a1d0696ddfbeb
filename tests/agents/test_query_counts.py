"""The dashboard's pages cost the same number of queries however much the desk holds.

A small desk (3 chats of 3 messages) is measured, ten times the chats with ten times the messages
each are added to the same inboxes (agents.generator), and every page is measured again: a query per
row or per message would show as a difference. The exact counts are pinned too, so that a new
query on these pages is a decision, not an accident.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Max, Min, Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.generator import USERNAME_PREFIX
from agents.models import Agent, ReadMark
from agents.selectors import conversations_for_agent
from chat.models import Conversation, Inbox, Message, Visitor
from chat.payloads import CONVERSATION_VALUES, conversation_data, conversation_row
from chat.selectors import with_preview
from chat.services import visitor_create

pytestmark = pytest.mark.django_db

# Per page: session, and the user with their agent (one query: agents.auth); then the page's own. An agent's lists first read which inboxes
# they work in (one query), so that the Ended list can take each inbox's newest from its index.
# The whole page's top bar shows "Analytics" to an agent with the chat.view_analytics permission:
# two more for an agent (their user's and their groups' permissions), none for an admin.
# A pane's messages read their files in one more query (prefetch_related: chat.selectors).
# The lists are four queries: waiting, active, with the bot (bots), ended.
# Triage added the snoozed list, the inboxes' wait thresholds and labels (dashboard), and the
# inbox's labels for the pane's picker (pane).
DASHBOARD = {"agent": 14, "admin": 11}
PANE = {"agent": 10, "admin": 10}
PAGE = {"agent": 22, "admin": 19}


def generate(conversations: int, messages: int, *, append: bool = False) -> str:
    out = StringIO()
    call_command(
        "generate_data",
        conversations=conversations,
        messages=messages,
        inboxes=3,
        agents=7,
        seed=7,
        append=append,
        stdout=out,
    )
    return out.getvalue()


def queries(client: Client, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def page_counts(agent: Agent) -> dict[str, int]:
    """Queries of the dashboard, and of opening the agent's longest visible conversation."""
    client = Client()
    client.force_login(agent.user)
    longest = conversations_for_agent(agent).order_by("-last_seq", "pk").first()
    assert longest is not None
    url = reverse("agents:conversation", args=[longest.pk])
    return {
        "dashboard": queries(client, reverse("agents:dashboard")),
        "page": queries(client, url),
        "pane": queries(client, url, HX_Request="true"),
    }


def generated(role: str) -> Agent:
    """The generated agent of `role` who sees the most (an admin sees everything)."""
    team = Agent.objects.filter(user__username__startswith=USERNAME_PREFIX, role=role)
    return max(team.order_by("pk"), key=lambda a: conversations_for_agent(a).count())


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_dashboard_and_opening_a_chat_cost_the_same_queries_with_ten_times_the_data(
    role: str,
) -> None:
    generate(3, 9)
    agent = generated(role)
    small = page_counts(agent)
    visible_before = conversations_for_agent(agent).count()

    generate(30, 900, append=True)  # the same inboxes and agents
    assert conversations_for_agent(agent).count() > visible_before
    assert conversations_for_agent(agent).aggregate(m=Max("last_seq"))["m"] >= 30
    large = page_counts(agent)

    assert large == small
    assert large == {"dashboard": DASHBOARD[role], "page": PAGE[role], "pane": PANE[role]}


def test_list_rows_read_as_values_serialize_like_the_model() -> None:
    """The lists build rows from `.values()` (chat.payloads.conversation_row) for speed; the
    single-conversation path uses the model (conversation_data). They must agree."""
    generate(40, 400)
    rated = Conversation.objects.filter(rating__isnull=False).first()
    assert rated is not None
    queryset = with_preview(Conversation.objects.all()).order_by("pk")
    rows = [conversation_row(r) for r in queryset.values(*CONVERSATION_VALUES)]
    assert rows == [conversation_data(c, preview=c.preview) for c in queryset]
    assert {r["status"] for r in rows} == {"waiting", "active", "ended"}
    # Anonymous visitors by their friendly name ("Blue Otter"), never a number.
    assert any(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", r["visitor_name"]) for r in rows)
    assert not any("#" in r["visitor_name"] for r in rows)
    assert any(r["assigned_agent_name"] for r in rows)


def test_generator_makes_what_was_asked_and_every_constraint_holds() -> None:
    out = generate(40, 400)
    assert "Generated 40 conversations" in out
    assert Conversation.objects.count() == 40
    assert Message.objects.count() == 400
    assert Inbox.objects.count() == 3
    assert Agent.objects.count() == 7
    assert Agent.objects.filter(role=Agent.Role.ADMIN).count() == 1
    assert set(Conversation.objects.values_list("status", flat=True)) == {
        "waiting",
        "active",
        "ended",
    }
    # seq runs 1..last_seq with no gap, and the conversation knows its last message.
    per_conversation = Conversation.objects.annotate(
        n=Count("messages"), low=Min("messages__seq"), high=Max("messages__seq")
    )
    assert not per_conversation.exclude(n=F("last_seq"), low=1, high=F("last_seq")).exists()
    for c in Conversation.objects.all():
        assert c.last_message_at == c.messages.order_by("-seq").first().created_at
    # The services' invariants: an agent on every active chat and a member of its inbox (or an
    # admin), senders as the constraints want them, read marks within the chat.
    for c in Conversation.objects.filter(assigned_agent__isnull=False).select_related(
        "assigned_agent"
    ):
        agent = c.assigned_agent
        assert agent.is_admin or agent.inboxes.filter(pk=c.inbox_id).exists()
    assert not Conversation.objects.filter(status="active", assigned_agent__isnull=True).exists()
    assert not Message.objects.filter(
        Q(sender_kind__in=["agent", "note"], author_agent__isnull=True)
        | Q(sender_kind__in=["visitor", "system"], author_agent__isnull=False)
    ).exists()
    assert not ReadMark.objects.filter(seq__gt=F("conversation__last_seq")).exists()
    assert not Conversation.objects.filter(
        Q(agent_read_seq__gt=F("last_seq")) | Q(visitor_read_seq__gt=F("last_seq"))
    ).exists()
    assert Message.objects.filter(sender_kind="system").exists()
    # One open conversation per visitor at most (the database would refuse a second one).
    assert (
        not Visitor.objects.annotate(
            open=Count("conversations", filter=~Q(conversations__status="ended"))
        )
        .filter(open__gt=1)
        .exists()
    )


def test_generator_refuses_a_database_with_chats_unless_appending() -> None:
    generate(3, 9)
    with pytest.raises(CommandError, match="--append"):
        generate(3, 9)
    generate(3, 9, append=True)
    assert Conversation.objects.count() == 6
    assert Inbox.objects.count() == 3  # appended to the same inboxes
    # New rows get fresh ids after the generated ones: the services can still write.
    visitor = visitor_create(inbox=Inbox.objects.first())
    assert visitor.pk > Visitor.objects.exclude(pk=visitor.pk).aggregate(m=Max("pk"))["m"]
