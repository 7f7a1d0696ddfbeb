"""What happens in a chat arrives at the receiver: one event per change, signed, in order, with
the outbox row written in the change's own transaction (a rollback sends nothing)."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from agents.models import Agent
from agents.services import conversation_claim, conversation_transfer, note_create, reply_post
from chat.models import Inbox, Visitor
from chat.sending import Draft
from chat.services import (
    conversation_end,
    conversation_rate,
    message_create,
    visitor_message_send,
)
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.outbox import deliveries_send_due

pytestmark = pytest.mark.django_db


def send(visitor: Visitor, body: str) -> int:
    """A visitor's message; its conversation's id."""
    result = visitor_message_send(visitor=visitor, body=body, client_id=uuid.uuid4())
    return result.message.conversation_id


def test_each_message_is_one_signed_request_in_seq_order(
    visitor: Visitor, agent: Agent, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    conversation_id = send(visitor, "Hello")  # conversation.created, then message 1
    conversation = visitor.conversations.get()
    conversation_claim(conversation=conversation, agent=agent)  # assigned, "Alice joined" (2)
    for n in range(5):
        send(visitor, f"Visitor {n}")  # the fast path (chat.posting) once the chat is open
        reply_post(  # the agent's fast path
            agent=agent, conversation_id=conversation_id, draft=Draft(f"Agent {n}", uuid.uuid4())
        )

    assert deliveries_send_due() == 14
    requests = receiver.wait_for(14)
    assert len(requests) == 14  # exactly one request per delivery, none twice
    assert all(r.signed for r in requests)
    assert all(r.headers["Content-Type"] == "application/json" for r in requests)
    messages = [r.json for r in requests if r.json["event"] == "message.created"]
    assert [m["seq"] for m in messages] == list(range(1, 13))
    assert [m["data"]["message"]["seq"] for m in messages] == list(range(1, 13))
    assert [m["data"]["message"]["body"] for m in messages][2:6] == [
        "Visitor 0",
        "Agent 0",
        "Visitor 1",
        "Agent 1",
    ]
    assert len({r.id for r in requests}) == 14
    assert all(r.id == r.json["id"] for r in requests)
    assert WebhookDelivery.objects.filter(state="delivered").count() == 14


def test_the_payloads_say_what_happened(
    visitor: Visitor, agent: Agent, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    conversation_id = send(visitor, "Where is my order?")
    conversation = visitor.conversations.get()
    conversation_claim(conversation=conversation, agent=agent)
    reply_post(
        agent=agent, conversation_id=conversation_id, draft=Draft("On its way!", uuid.uuid4())
    )
    note_create(conversation=conversation, agent=agent, body="VIP customer", client_id=uuid.uuid4())
    conversation_end(conversation=conversation, by=agent)
    conversation_rate(visitor=visitor, conversation_id=conversation_id, rating=5, comment="Fast")
    deliveries_send_due()

    events = [r.json for r in receiver.wait_for(8)]
    assert [(e["event"], e["seq"]) for e in events] == [
        ("conversation.created", 0),
        ("message.created", 1),
        ("conversation.assigned", 1),
        ("message.created", 2),  # "Alice joined the chat."
        ("message.created", 3),  # the reply; the note (4) is not sent
        ("conversation.ended", 4),
        ("message.created", 5),  # "Alice ended the chat."
        ("conversation.rated", 5),
    ]
    assert len({e["id"] for e in events}) == 8
    created, first, assigned, joined, reply, ended, _, rated = events
    for event in events:
        assert event["inbox"] == {"id": visitor.inbox_id, "name": "Acme support"}
        assert event["conversation_id"] == conversation_id
    assert created["data"]["conversation"]["status"] == "waiting"
    assert first["data"]["message"]["body"] == "Where is my order?"
    assert first["data"]["message"]["sender_kind"] == "visitor"
    assert assigned["data"]["agent"] == {"id": agent.pk, "name": "Alice"}
    assert assigned["data"]["how"] == "claim"
    assert assigned["data"]["conversation"]["assigned_agent_name"] == "Alice"
    assert joined["data"]["message"]["sender_kind"] == "system"
    assert reply["data"]["message"]["body"] == "On its way!"
    assert reply["data"]["message"]["author_name"] == "Alice"
    assert reply["data"]["message"]["id"] > 0
    assert reply["data"]["conversation"]["status"] == "active"
    assert ended["data"]["by"] == {"id": agent.pk, "name": "Alice"}
    assert ended["data"]["reason"] == ""
    assert ended["data"]["conversation"]["status"] == "ended"
    assert rated["data"]["rating"] == 5
    assert rated["data"]["comment"] == "Fast"
    assert "VIP" not in str(events)
    assert receiver.requests[1].headers["Supportdesk-Webhook-Event"] == "message.created"


def test_internal_notes_go_only_to_an_endpoint_that_asked_for_them(
    visitor: Visitor, agent: Agent, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    conversation = visitor.conversations.get(pk=send(visitor, "Hello"))
    conversation_claim(conversation=conversation, agent=agent)
    note_create(conversation=conversation, agent=agent, body="Secret", client_id=uuid.uuid4())
    endpoint.include_internal_notes = True
    endpoint.save(update_fields=["include_internal_notes"])
    note_create(conversation=conversation, agent=agent, body="Noted", client_id=uuid.uuid4())
    deliveries_send_due()

    notes = [
        e["data"]["message"]["body"]
        for e in receiver.events()
        if e["event"] == "message.created" and e["data"]["message"]["sender_kind"] == "note"
    ]
    assert notes == ["Noted"]


def test_a_line_for_the_agents_alone_goes_only_to_an_endpoint_that_asked_for_internal_ones(
    visitor: Visitor, agent: Agent, second_agent: Agent, endpoint: WebhookEndpoint, inbox: Inbox
) -> None:
    """A transfer's line names the agents ("Alice transferred the chat to Bob."): the visitor
    sees another line, and an endpoint that takes no internal notes gets neither."""
    private = WebhookEndpoint.objects.create(
        inbox=inbox, url=endpoint.url + "&private=1", include_internal_notes=True
    )
    conversation = visitor.conversations.get(pk=send(visitor, "Hello"))
    conversation_claim(conversation=conversation, agent=agent)
    conversation_transfer(conversation=conversation, by=agent, to=second_agent, note="")

    def lines(to: WebhookEndpoint) -> list[str]:
        return [
            d.payload["data"]["message"]["body"]
            for d in WebhookDelivery.objects.filter(endpoint=to, event="message.created")
            if d.payload["data"]["message"]["sender_kind"] == "system"
        ]

    assert lines(endpoint) == ["Alice joined the chat."]
    assert lines(private) == ["Alice joined the chat.", "Alice transferred the chat to Bob."]


def test_an_endpoint_gets_only_the_events_it_chose(
    visitor: Visitor, agent: Agent, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    endpoint.events = ["conversation.ended"]
    endpoint.save(update_fields=["events"])
    conversation = visitor.conversations.get(pk=send(visitor, "Hello"))
    conversation_claim(conversation=conversation, agent=agent)
    conversation_end(conversation=conversation, by=agent)
    deliveries_send_due()
    assert [e["event"] for e in receiver.events()] == ["conversation.ended"]


def test_a_transfer_is_an_assignment_by_the_agent_who_handed_it_over(
    visitor: Visitor,
    agent: Agent,
    second_agent: Agent,
    endpoint: WebhookEndpoint,
    receiver: Receiver,
) -> None:
    conversation = visitor.conversations.get(pk=send(visitor, "Hello"))
    conversation_claim(conversation=conversation, agent=agent)
    conversation_transfer(conversation=conversation, by=agent, to=second_agent, note="Yours")
    deliveries_send_due()
    assigned = [e for e in receiver.events() if e["event"] == "conversation.assigned"]
    assert [(e["data"]["agent"]["name"], e["data"]["how"]) for e in assigned] == [
        ("Alice", "claim"),
        ("Bob", "transfer"),
    ]
    assert assigned[1]["data"]["by"] == {"id": agent.pk, "name": "Alice"}


def test_a_rolled_back_change_queues_nothing_and_sends_nothing(
    visitor: Visitor, agent: Agent, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    conversation = visitor.conversations.get(pk=send(visitor, "Hello"))
    queued = WebhookDelivery.objects.count()

    @transaction.atomic
    def writes_then_fails() -> None:
        message_create(
            conversation=conversation, sender_kind="visitor", body="Undone", client_id=None
        )
        conversation_claim(conversation=conversation, agent=agent)
        raise RuntimeError("the request failed after the writes")

    with pytest.raises(RuntimeError):
        writes_then_fails()
    assert WebhookDelivery.objects.count() == queued
    deliveries_send_due()
    assert "Undone" not in str(receiver.events())
    assert [e["event"] for e in receiver.events()] == ["conversation.created", "message.created"]


def test_another_inboxs_chats_are_not_sent(
    visitor: Visitor, other_inbox, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    from chat.services import visitor_create

    send(visitor_create(inbox=other_inbox), "Elsewhere")
    assert not WebhookDelivery.objects.exists()


def test_an_event_has_one_id_for_every_endpoint_that_gets_it(
    visitor: Visitor, endpoint: WebhookEndpoint, receiver: Receiver
) -> None:
    WebhookEndpoint.objects.create(
        inbox=endpoint.inbox, url=receiver.url + "&second", allow_private_network=True
    )
    send(visitor, "Hello")
    rows = WebhookDelivery.objects.filter(event="message.created")
    assert rows.count() == 2
    assert len({row.event_id for row in rows}) == 1
