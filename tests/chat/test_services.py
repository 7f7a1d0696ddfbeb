from __future__ import annotations

import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents.services import AlreadyAssigned, conversation_claim
from chat.models import Conversation, Message
from chat.payloads import chat_message_event
from chat.services import ConversationEnded, conversation_end, message_create, visitor_message_send
from tests.conftest import published_messages

pytestmark = pytest.mark.django_db


def send(visitor, body="hello", client_id=None):
    return visitor_message_send(visitor=visitor, body=body, client_id=client_id or uuid.uuid4())


def test_first_message_starts_a_waiting_conversation_with_seq_1(visitor) -> None:
    result = send(visitor, "Hi there")
    assert result.created
    conversation = result.message.conversation
    assert conversation.status == Conversation.Status.WAITING
    assert conversation.visitor == visitor
    assert (result.message.seq, conversation.last_seq) == (1, 1)
    assert result.message.body == "Hi there"


def test_messages_get_consecutive_seqs_in_one_conversation(visitor) -> None:
    seqs = [send(visitor, f"m{i}").message.seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert Conversation.objects.filter(visitor=visitor).count() == 1


def test_retry_with_same_client_id_returns_same_message(visitor) -> None:
    client_id = uuid.uuid4()
    first = send(visitor, "once", client_id)
    again = send(visitor, "once", client_id)
    assert first.created
    assert not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.filter(client_id=client_id).count() == 1


def test_retry_after_the_conversation_ended_still_returns_the_stored_message(
    visitor,
    agent,
) -> None:
    client_id = uuid.uuid4()
    first = send(visitor, "once", client_id)
    conversation_end(conversation=first.message.conversation, by=agent)
    again = send(visitor, "once", client_id)
    assert again.message.pk == first.message.pk
    assert Conversation.objects.filter(visitor=visitor).count() == 1


def test_same_client_id_is_allowed_in_different_conversations(visitor, visitor_b) -> None:
    client_id = uuid.uuid4()
    assert send(visitor, "a", client_id).created
    assert send(visitor_b, "b", client_id).created


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_empty_message_is_refused_and_nothing_is_stored(visitor, body) -> None:
    with pytest.raises(ValidationError) as info:
        send(visitor, body)
    assert info.value.code == "empty"
    assert not Conversation.objects.exists()


def test_oversized_message_is_refused_with_the_limit(visitor, settings) -> None:
    settings.SUPPORTDESK_MAX_MESSAGE_LENGTH = 10
    with pytest.raises(ValidationError) as info:
        send(visitor, "x" * 11)
    assert info.value.code == "too_long"
    assert "10" in info.value.messages[0]
    assert not Message.objects.exists()
    assert send(visitor, "x" * 10).created


def test_message_body_is_stored_trimmed(visitor) -> None:
    assert send(visitor, "  hi  \n").message.body == "hi"


def test_after_the_end_a_visitor_message_starts_a_new_conversation(visitor, agent) -> None:
    first = send(visitor, "one").message.conversation
    conversation_end(conversation=first, by=agent)
    second = send(visitor, "two").message.conversation
    assert second.pk != first.pk
    assert second.status == Conversation.Status.WAITING
    assert second.previous == first  # linked, so an agent can follow the thread back
    assert Conversation.objects.get(pk=first.pk).follow_up == second


def test_an_ended_conversation_takes_no_more_messages(visitor, agent) -> None:
    conversation = send(visitor, "one").message.conversation
    conversation_end(conversation=conversation, by=agent)
    with pytest.raises(ConversationEnded):
        message_create(
            conversation=conversation,
            sender_kind=Message.SenderKind.AGENT,
            body="too late",
            client_id=uuid.uuid4(),
            author_agent=agent,
        )


def test_claim_makes_the_conversation_active_and_says_who_joined(visitor, agent) -> None:
    conversation = send(visitor).message.conversation
    claimed = conversation_claim(conversation=conversation, agent=agent)
    assert claimed.status == Conversation.Status.ACTIVE
    assert claimed.assigned_agent == agent
    assert claimed.assigned_at is not None
    system = Message.objects.get(conversation=conversation, seq=2)
    assert system.sender_kind == Message.SenderKind.SYSTEM
    assert system.body == "Alice joined the chat."


def test_claiming_a_taken_conversation_names_who_has_it(visitor, agent, second_agent) -> None:
    conversation = send(visitor).message.conversation
    conversation_claim(conversation=conversation, agent=agent)
    with pytest.raises(AlreadyAssigned, match="Alice already took this chat"):
        conversation_claim(conversation=conversation, agent=second_agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


def test_an_agent_of_another_inbox_cannot_claim(visitor, outsider_agent) -> None:
    from django.core.exceptions import PermissionDenied

    conversation = send(visitor).message.conversation
    with pytest.raises(PermissionDenied):
        conversation_claim(conversation=conversation, agent=outsider_agent)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING


def test_end_records_the_time_and_a_system_line(visitor, agent) -> None:
    conversation = send(visitor).message.conversation
    ended = conversation_end(conversation=conversation, by=agent)
    assert ended.status == Conversation.Status.ENDED
    assert ended.ended_at is not None
    assert ended.messages.order_by("-seq").first().body == "Alice ended the chat."
    with pytest.raises(ConversationEnded):
        conversation_end(conversation=conversation, by=agent)


def test_every_service_write_registers_exactly_one_publish(
    visitor,
    agent,
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks() as sent:
        conversation = send(visitor).message.conversation
    assert len(published_messages(sent)) == 1
    with django_capture_on_commit_callbacks() as claimed:
        conversation_claim(conversation=conversation, agent=agent)
    assert len(published_messages(claimed)) == 1
    with django_capture_on_commit_callbacks() as ended:
        conversation_end(conversation=conversation, by=agent)
    assert len(published_messages(ended)) == 1


def test_a_rolled_back_write_registers_no_publish(
    visitor, django_capture_on_commit_callbacks
) -> None:
    def send_then_fail() -> None:
        with transaction.atomic():
            send(visitor)
            raise RuntimeError("roll back")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        send_then_fail()
    assert callbacks == []
    assert not Message.objects.exists()


def test_event_payload_carries_what_a_consumer_renders_and_survives_json(visitor, agent) -> None:
    message = send(visitor, "Where is my order?").message
    conversation_claim(conversation=message.conversation, agent=agent)
    reply = message_create(
        conversation=message.conversation,
        sender_kind=Message.SenderKind.AGENT,
        body="Let me check.",
        client_id=uuid.uuid4(),
        author_agent=agent,
    ).message
    event = chat_message_event(reply)
    assert json.loads(json.dumps(event)) == event
    assert event["type"] == "chat.message"
    assert event["message"]["seq"] == 3
    assert event["message"]["author_name"] == "Alice"
    assert event["message"]["sender_kind"] == "agent"
    assert event["conversation"]["status"] == "active"
    assert event["conversation"]["assigned_agent_name"] == "Alice"
    assert event["conversation"]["last_seq"] == 3
    assert event["conversation"]["preview"] == "Let me check."


def test_database_refuses_a_second_open_conversation_for_one_visitor(visitor) -> None:
    send(visitor)
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(inbox=visitor.inbox, visitor=visitor)


def test_database_refuses_a_repeated_seq(visitor) -> None:
    message = send(visitor).message
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            conversation=message.conversation, seq=1, sender_kind="visitor", body="dup"
        )


def test_a_write_succeeds_when_redis_is_down_and_the_failed_publish_is_logged(
    visitor, django_capture_on_commit_callbacks, caplog
) -> None:
    """The database is the record: with Redis unreachable the message is stored, the failure to
    ring is logged, and clients catch up from the database when they resume."""
    import socket

    from channels.layers import channel_layers
    from django.test import override_settings

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [dead]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        try:
            with django_capture_on_commit_callbacks(execute=True):
                result = send(visitor, "stored anyway")
        finally:
            channel_layers.backends.clear()
    assert Message.objects.get(pk=result.message.pk).body == "stored anyway"
    assert any(
        "publish of chat.message" in r.getMessage() and "failed" in r.getMessage()
        for r in caplog.records
    )
