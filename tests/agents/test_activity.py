"""The activity log (Activity): every agent action, listed in the admin."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from agents.models import Activity, Agent
from chat.models import Visitor
from chat.services import conversation_end
from tests.agents.helpers import chat
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


def test_every_agent_action_is_in_the_activity_log_and_the_admin(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    client = Client()
    assert client.login(username="alice", password="correct horse battery staple")
    conversation = chat(visitor)
    client.post(reverse("agents:claim", args=[conversation.pk]))
    note = {"body": "refund approved", "client_id": str(uuid.uuid4())}
    assert client.post(reverse("agents:note", args=[conversation.pk]), note).status_code == 201
    client.post(reverse("agents:availability"), {"availability": "away"})
    client.post(
        reverse("agents:transfer", args=[conversation.pk]), {"to": second_agent.pk, "note": "hi"}
    )
    conversation_end(conversation=conversation, by=second_agent)
    client.post(reverse("logout"))
    verbs = list(Activity.objects.order_by("pk").values_list("actor__display_name", "verb"))
    assert verbs == [
        ("Alice", "login"),
        ("Alice", "claim"),
        ("Alice", "note"),
        ("Alice", "status"),
        ("Alice", "transfer"),
        ("Bob", "end"),
        ("Alice", "logout"),
    ]
    admin = make_agent(username="root", display_name="Root", inbox=visitor.inbox).user
    admin.is_staff = admin.is_superuser = True
    admin.save()
    staff = Client()
    staff.force_login(admin)
    page = staff.get(reverse("admin:agents_activity_changelist"))
    assert page.status_code == 200
    assert "transferred" in page.content.decode()


def test_an_end_that_rolls_back_leaves_nothing_in_the_activity_log(
    visitor: Visitor, agent: Agent
) -> None:
    """The log is written by the agents' app on chat's conversation_ended signal, inside the
    transaction that ends the chat: it commits or rolls back with it."""
    conversation = chat(visitor)

    class Undo(Exception):
        pass

    def end_then_undo() -> None:
        with transaction.atomic():
            conversation_end(conversation=conversation, by=agent)
            assert Activity.objects.filter(verb="end", conversation=conversation).count() == 1
            raise Undo

    with pytest.raises(Undo):
        end_then_undo()
    assert not Activity.objects.filter(verb="end").exists()
    conversation.refresh_from_db()
    assert conversation.status != "ended"
