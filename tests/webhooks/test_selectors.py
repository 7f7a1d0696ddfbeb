"""A message costs nothing more when its inbox has no webhook endpoint: the receivers answer
from memory (webhooks.selectors), not with a query per message."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import signals
from chat.models import Inbox, Visitor
from chat.posting import visitor_message_post
from chat.services import visitor_message_send
from chat.tokens import token_claims, visitor_token
from webhooks import selectors, services
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def statements(queries: CaptureQueriesContext) -> list[str]:
    """As tests/chat/test_posting.py counts them: not the test transaction's savepoints."""
    return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def post(visitor: Visitor) -> list[str]:
    """A visitor's message in their open chat (the two-statement fast path); its statements."""
    with CaptureQueriesContext(connection) as queries:
        posted = visitor_message_post(
            claims=token_claims(visitor_token(visitor)),
            public_key=visitor.inbox.public_key,
            body="Hello again",
            client_id=uuid.uuid4(),
        )
    assert posted is not None
    return statements(queries)


@pytest.fixture
def without_webhooks() -> Iterator[None]:
    """The message signal with the webhooks' receiver disconnected, as on a desk without the app."""
    signals.message_stored.disconnect(dispatch_uid="webhooks.on_message_stored")
    yield
    signals.message_stored.connect(
        services.on_message_stored, dispatch_uid="webhooks.on_message_stored"
    )


@pytest.fixture
def open_chat(visitor: Visitor) -> Visitor:
    visitor_message_send(visitor=visitor, body="Hello", client_id=uuid.uuid4())
    return visitor


def test_a_message_without_endpoints_costs_the_same_statements_as_without_the_app(
    open_chat: Visitor, other_inbox: Inbox, request: Any
) -> None:
    WebhookEndpoint.objects.create(inbox=other_inbox, url="https://93.184.215.14/hook")
    post(open_chat)  # the first message after the change loads the set of inboxes (one query)
    with_app = [post(open_chat) for _ in range(3)]
    request.getfixturevalue("without_webhooks")
    without_app = [post(open_chat) for _ in range(3)]
    assert [len(s) for s in with_app] == [len(s) for s in without_app] == [2, 2, 2]


def test_with_an_endpoint_a_message_adds_one_query_and_one_insert(
    open_chat: Visitor,
) -> None:
    WebhookEndpoint.objects.create(inbox=open_chat.inbox, url="https://93.184.215.14/hook")
    post(open_chat)
    sql = post(open_chat)
    assert len(sql) == 4, sql
    assert sum("webhooks_webhookdelivery" in s and s.startswith("INSERT") for s in sql) == 1


def test_another_process_learns_of_a_new_endpoint_through_the_cache_version(
    open_chat: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(open_chat)  # the set is loaded: no endpoints
    # An endpoint saved by another process: this one's set is not told directly...
    monkeypatch.setattr(selectors, "endpoints_changed", lambda: None)
    monkeypatch.setattr(services, "endpoints_changed", lambda: None)
    endpoint = WebhookEndpoint(inbox=open_chat.inbox, url="https://93.184.215.14/hook")
    WebhookEndpoint.objects.bulk_create([endpoint])  # no post_save: as if elsewhere
    assert not selectors.inbox_has_endpoints(open_chat.inbox_id)
    # ...but the other process's commit set a new version, which this one reads within
    # CHECK_SECONDS.
    cache.set(selectors.VERSION_KEY, "another-version", timeout=None)
    monkeypatch.setattr(selectors, "CHECK_SECONDS", 0.0)
    assert selectors.inbox_has_endpoints(open_chat.inbox_id)
