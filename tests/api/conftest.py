"""API tests: tokens for the project's agents (tests/conftest.py), and a client that sends one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from api.services import api_token_create
from tests.conftest import make_agent


def token_for(agent: Agent, scopes: Iterable[str] = ("read", "write"), name: str = "test") -> str:
    return api_token_create(agent=agent, name=name, scopes=scopes).plaintext


class Api:
    """A client that sends `Authorization: Bearer <token>` and JSON bodies."""

    def __init__(self, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = Client(headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {})

    def post(self, path: str, data: Any = None) -> Any:
        return self.client.post(
            path, data if data is not None else {}, content_type="application/json"
        )

    def patch(self, path: str, data: Any) -> Any:
        return self.client.patch(path, data, content_type="application/json")


@pytest.fixture
def api(agent: Agent) -> Api:
    """Alice's read-write token."""
    return Api(token_for(agent))


@pytest.fixture
def admin_agent(db: None, other_inbox: Any) -> Agent:
    """An admin: every inbox, member of none."""
    boss = make_agent(username="ada", display_name="Ada", inbox=other_inbox)
    boss.inboxes.clear()
    boss.role = Agent.Role.ADMIN
    boss.save(update_fields=["role"])
    return boss
