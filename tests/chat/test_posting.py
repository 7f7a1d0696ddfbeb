"""The message hot path (chat.posting): two statements for the common case, and the same
answers, rows and events as the full path (chat.services) would give, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents.models import Agent
from agents.services import conversation_claim
from chat.models import Conversation, Inbox, Message, Visitor
from chat.payloads import chat_message_event
from chat.services import conversation_end, visitor_message_send
from chat.tokens import visitor_token
from tests.conftest import published_messages

pytestmark = pytest.mark.django_db


def visitor_post(client: Client, visitor: Visitor, body: str, client_id: uuid.UUID | str):
    return client.post(
        reverse("chat:widget_send", args=[visitor.inbox.public_key]),
        {"body": body, "client_id": str(client_id)},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )


def agent_post(client: Client, conversation_id: int, body: str, client_id: uuid.UUID | str):
    return client.post(
        reverse("agents:reply", args=[conversation_id]),
        {"body": body, "client_id": str(client_id)},
    )


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements sent, but the savepoints the test's own transaction turns BEGIN and
    COMMIT into (outside a test, `atomic` opens a transaction: no statement of its own)."""
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def logged_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def event_from_the_database(message_id: int) -> dict[str, Any]:
    """What the full path publishes for a stored message, built from the rows with the ORM."""
    message = Message.objects.select_related(
        "author_agent",
        "conversation__inbox",
        "conversation__visitor",
        "conversation__assigned_agent",
    ).get(pk=message_id)
    return dict(chat_message_event(message))


def without_publish_time(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "published_at"}


@pytest.fixture
def open_chat(visitor: Visitor, agent: Agent) -> Conversation:
    """An active conversation: the visitor wrote, Alice claimed it."""
    first = visitor_message_send(visitor=visitor, body="Hello", client_id=uuid.uuid4())
    return conversation_claim(conversation=first.message.conversation, agent=agent)


def test_a_visitor_message_in_an_open_chat_is_two_statements(
    client: Client, visitor: Visitor, open_chat: Conversation
) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = visitor_post(client, visitor, "Where is my order?", uuid.uuid4())
    assert response.status_code == 201
    assert len(statements(queries)) == 2, statements(queries)
    assert response["X-Seq"] == "3"


def test_an_agent_reply_in_an_active_chat_is_two_statements_after_the_login(
    agent: Agent, open_chat: Conversation
) -> None:
    client = logged_in(agent)
    with CaptureQueriesContext(connection) as queries:
        response = agent_post(client, open_chat.pk, "Let me check.", uuid.uuid4())
    assert response.status_code == 201
    # The session, its user with their agent (Django's login), then the UPDATE and the INSERT.
    assert len(statements(queries)) == 4, statements(queries)


def test_the_fast_paths_rows_and_event_are_what_the_full_path_makes(
    client: Client,
    visitor: Visitor,
    agent: Agent,
    open_chat: Conversation,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sends = [
        lambda: visitor_post(client, visitor, "Where is my order?", uuid.uuid4()),
        lambda: agent_post(logged_in(agent), open_chat.pk, "It ships today.", uuid.uuid4()),
    ]
    for send in sends:
        with django_capture_on_commit_callbacks() as callbacks:
            response = send()
        assert response.status_code == 201
        (event,) = published_messages(callbacks)
        message = Message.objects.get(conversation=open_chat, seq=int(response["X-Seq"]))
        assert without_publish_time(event) == event_from_the_database(message.pk)
    conversation = Conversation.objects.get(pk=open_chat.pk)
    question = Message.objects.get(conversation=open_chat, seq=3)
    reply = Message.objects.get(conversation=open_chat, seq=4)
    assert conversation.last_seq == 4
    assert conversation.last_message_at == reply.created_at
    assert conversation.last_visitor_message_at == question.created_at
    assert conversation.last_agent_message_at == reply.created_at
    assert conversation.first_response_at == reply.created_at
    assert reply.author_agent_id == agent.pk


def test_a_later_reply_keeps_the_first_response_time(agent: Agent, open_chat: Conversation) -> None:
    client = logged_in(agent)
    agent_post(client, open_chat.pk, "First answer", uuid.uuid4())
    first = Conversation.objects.get(pk=open_chat.pk).first_response_at
    agent_post(client, open_chat.pk, "Second answer", uuid.uuid4())
    assert Conversation.objects.get(pk=open_chat.pk).first_response_at == first


def test_a_retry_answers_the_stored_message_and_stores_nothing(
    client: Client, visitor: Visitor, agent: Agent, open_chat: Conversation
) -> None:
    client_id = uuid.uuid4()
    first = visitor_post(client, visitor, "once", client_id)
    again = visitor_post(client, visitor, "once", client_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["X-Seq"] == first["X-Seq"]
    assert Conversation.objects.get(pk=open_chat.pk).last_seq == 3  # no seq handed out twice
    reply_id = uuid.uuid4()
    agent_client = logged_in(agent)
    assert agent_post(agent_client, open_chat.pk, "reply", reply_id).status_code == 201
    assert agent_post(agent_client, open_chat.pk, "reply", reply_id).status_code == 200
    assert Message.objects.filter(conversation=open_chat).count() == 4


def test_a_retry_after_the_chat_ended_and_another_began_is_still_stored_once(
    client: Client, visitor: Visitor, agent: Agent, open_chat: Conversation
) -> None:
    """The answer to the first try was lost; the chat ended; the visitor wrote again from
    another tab (a new chat); then the retry arrives. It is the old message, not a new one."""
    client_id = uuid.uuid4()
    assert visitor_post(client, visitor, "lost answer", client_id).status_code == 201
    conversation_end(conversation=open_chat, by=agent)
    assert visitor_post(client, visitor, "new chat", uuid.uuid4()).status_code == 201
    retry = visitor_post(client, visitor, "lost answer", client_id)
    assert retry.status_code == 200
    assert retry["X-Conversation-Id"] == str(open_chat.pk)
    assert Message.objects.filter(client_id=client_id).count() == 1


def test_what_the_fast_path_leaves_to_the_full_path_answers_as_before(
    client: Client, visitor: Visitor, agent: Agent, second_agent: Agent, outsider_agent: Agent
) -> None:
    # No open conversation: the first message starts one.
    response = visitor_post(client, visitor, "Hello", uuid.uuid4())
    assert (response.status_code, response["X-Seq"]) == (201, "1")
    conversation = Conversation.objects.get(pk=response["X-Conversation-Id"])
    # An agent of another inbox: 404, and nothing changes.
    assert (
        agent_post(logged_in(outsider_agent), conversation.pk, "Hi", uuid.uuid4()).status_code
        == 404
    )
    assert Conversation.objects.get(pk=conversation.pk).last_seq == 1
    # A waiting chat: the reply claims it first.
    assert agent_post(logged_in(agent), conversation.pk, "Hi", uuid.uuid4()).status_code == 201
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent_id) == ("active", agent.pk)
    # A colleague may answer an active chat (the fast path) without taking it.
    assert (
        agent_post(logged_in(second_agent), conversation.pk, "Me too", uuid.uuid4()).status_code
        == 201
    )
    conversation.refresh_from_db()
    assert conversation.assigned_agent_id == agent.pk
    # An ended chat: 409 for agents.
    conversation_end(conversation=conversation, by=agent)
    ended = agent_post(logged_in(agent), conversation.pk, "Too late", uuid.uuid4())
    assert (ended.status_code, ended.json()["error"]) == (409, "conversation_ended")


def test_a_deleted_visitor_or_another_inboxs_token_gets_401(
    client: Client, visitor: Visitor, other_inbox: Inbox, open_chat: Conversation
) -> None:
    token = visitor_token(visitor)
    wrong_inbox = client.post(
        reverse("chat:widget_send", args=[other_inbox.public_key]),
        {"body": "hi", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": token},
    )
    assert wrong_inbox.status_code == 401
    Visitor.objects.filter(pk=visitor.pk).delete()
    gone = visitor_post(client, visitor, "hi", uuid.uuid4())
    assert (gone.status_code, gone.json()["error"]) == (401, "token_unknown")


def test_a_key_with_a_nul_is_refused_not_a_500(client: Client, visitor: Visitor) -> None:
    response = client.post(
        "/widget/ab%00cd/messages",
        {"body": "hi", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert response.status_code == 401
