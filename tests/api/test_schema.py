"""Schemathesis against the live OpenAPI schema (/api/v1/schema/, read through the WSGI app):
for every operation, generated requests with a real agent's token never get a 500, and every
answer (status, content type, body) is one the schema describes. Bounded: a few examples per
operation, so the whole run takes seconds."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents.models import Agent
from agents.services import saved_reply_create
from chat.models import Inbox
from chat.services import visitor_create
from tests.agents.helpers import chat
from tests.api.conftest import token_for
from tests.conftest import make_agent

APP = get_wsgi_application()
COUNTER = itertools.count()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def live_schema() -> Any:
    """The schema as the running app serves it, fetched through the WSGI app (which
    schemathesis's client calls `localhost`); serving it needs no database."""
    with override_settings(ALLOWED_HOSTS=["localhost"]):
        loaded = schemathesis.openapi.from_wsgi("/api/v1/schema/", APP)
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE])
    return loaded


schema = live_schema()


@pytest.fixture
def wsgi_keeps_the_test_connection(settings: Any) -> Iterator[None]:
    """As Django's test client does: a request through the WSGI app must not close the test's
    connection (and with it the transaction that holds the test's data)."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db: None, inbox: Inbox, agent: Agent) -> dict[str, Any]:
    """An agent with a token, a colleague, chats in several states, a saved reply: ids for the
    generated requests to hit (besides the random ones, which are 404s)."""
    colleague = make_agent(username="bob", display_name="Bob", inbox=inbox)
    conversations = [chat(visitor_create(inbox=inbox), f"question {n}") for n in range(3)]
    saved_reply_create(agent=agent, shortcut="hi", body="Hello!")
    return {
        "token": token_for(agent),
        "ids": {
            "conversation": [c.pk for c in conversations],
            "visitor": [c.visitor_id for c in conversations],
            "inbox": [inbox.pk],
            "agent": [agent.pk, colleague.pk],
        },
    }


def _real_ids(case: Any, ids: dict[str, list[int]]) -> None:
    """Point most cases at real objects: random ids only ever meet the 404."""
    if not case.path_parameters or "id" not in case.path_parameters:
        return
    kind = next((k for k in ids if f"/{k}s/" in case.path or f"/{k}es/" in case.path), None)
    choice = next(COUNTER) % 4  # deterministic, as the examples are (derandomize)
    if kind and choice:
        pool = ids[kind]
        case.path_parameters["id"] = pool[choice % len(pool)]


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_answers_as_its_schema_says(
    case: Any, world: dict[str, Any], wsgi_keeps_the_test_connection: None
) -> None:
    _real_ids(case, world["ids"])
    response = case.call(app=APP, headers={"Authorization": f"Bearer {world['token']}"})
    case.validate_response(response, checks=CHECKS)
