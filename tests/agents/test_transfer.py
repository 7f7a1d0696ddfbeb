"""Transferring a chat (conversation_transfer and its view), by agents and admins."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from agents.models import Activity, Agent
from agents.selectors import conversation_lists
from agents.services import AlreadyAssigned, conversation_claim, conversation_transfer
from chat.models import Visitor
from chat.services import ConversationEnded, conversation_end
from tests.agents.helpers import chat, logged_in

pytestmark = pytest.mark.django_db


def test_transfer_hands_over_with_a_note_only_agents_see(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    conversation_transfer(
        conversation=conversation, by=agent, to=second_agent, note="VIP, refund approved"
    )
    conversation.refresh_from_db()
    assert conversation.assigned_agent == second_agent
    lines = list(conversation.messages.order_by("seq").values_list("sender_kind", "body"))
    assert lines[-2:] == [
        ("system", "Alice transferred the chat to Bob."),
        ("note", "VIP, refund approved"),
    ]
    activity = Activity.objects.get(verb=Activity.Verb.TRANSFER)
    assert (activity.actor, activity.target_agent) == (agent, second_agent)
    with pytest.raises(AlreadyAssigned):
        conversation_transfer(conversation=conversation, by=agent, to=second_agent)


def test_transfer_only_to_an_agent_of_the_inbox_and_never_of_an_ended_chat(
    visitor: Visitor, agent: Agent, outsider_agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    with pytest.raises(PermissionDenied):
        conversation_transfer(conversation=conversation, by=agent, to=outsider_agent)
    with pytest.raises(PermissionDenied):
        conversation_transfer(conversation=conversation, by=outsider_agent, to=second_agent)
    conversation_end(conversation=conversation, by=agent)
    with pytest.raises(ConversationEnded):
        conversation_transfer(conversation=conversation, by=agent, to=second_agent)


def test_an_admin_sees_every_inbox_and_may_reassign(
    visitor: Visitor, agent: Agent, second_agent: Agent, admin_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    lists = conversation_lists(agent=admin_agent)
    assert [c["id"] for c in lists["active"]] == [conversation.pk]
    conversation_transfer(conversation=conversation, by=admin_agent, to=second_agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == second_agent
    response = logged_in(admin_agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert response.status_code == 200


def test_the_transfer_view_answers_with_the_new_header_or_a_clear_error(
    visitor: Visitor, agent: Agent, second_agent: Agent, outsider_agent: Agent
) -> None:
    conversation = chat(visitor)
    client = logged_in(agent)
    url = reverse("agents:transfer", args=[conversation.pk])
    stranger = client.post(url, {"to": outsider_agent.pk})
    assert stranger.status_code == 422  # not a colleague: the answer for no such agent
    assert "Mallory" not in stranger.content.decode()  # another company's agent stays unnamed
    agent.inboxes.add(outsider_agent.inboxes.get())  # colleagues now, in the other inbox
    refused = client.post(url, {"to": outsider_agent.pk})
    assert refused.status_code == 409
    assert "Mallory does not work in this inbox" in refused.content.decode()
    assert client.post(url, {"to": "nobody"}).status_code == 422
    done = client.post(url, {"to": second_agent.pk, "note": "over to you"})
    assert done.status_code == 200
    assert "Active · <bdi>Bob</bdi>" in done.content.decode()
    pane = client.get(reverse("agents:conversation", args=[conversation.pk])).content.decode()
    # Everyone of the inbox: the page leaves out the chat's agent and the viewer when the form
    # opens, as they are by then. Alice may take it back from Bob.
    assert f'<option value="{agent.pk}" data-agent="{agent.pk}" data-name="Alice"' in pane
    assert f'<option value="{second_agent.pk}" data-agent="{second_agent.pk}"' in pane


def test_a_chat_cannot_be_transferred_to_a_deactivated_agent(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    second_agent.user.is_active = False
    second_agent.user.save()
    response = logged_in(agent).post(
        reverse("agents:transfer", args=[conversation.pk]), {"to": second_agent.pk}
    )
    assert response.status_code == 422
    conversation.refresh_from_db()
    assert conversation.assigned_agent is None
