"""The data generator (manage.py generate_data) makes what it is asked for, within the rules."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, Min, Q

from agents.models import Agent, ReadMark
from chat.models import Conversation, Inbox, Message, Visitor
from chat.services import visitor_create

pytestmark = pytest.mark.django_db


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
