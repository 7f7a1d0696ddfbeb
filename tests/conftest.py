"""Shared fixtures: an inbox with an agent, a second inbox with its own agent, visitors."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from agents.models import Agent
from agents.services import agent_create
from chat.models import Inbox, Visitor
from chat.services import visitor_create

PASSWORD = "correct horse battery staple"


def make_agent(*, username: str, display_name: str, inbox: Inbox) -> Agent:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    return agent_create(user=user, display_name=display_name, inboxes=[inbox])


@pytest.fixture
def inbox(db: None) -> Inbox:
    return Inbox.objects.create(name="Acme support", greeting="Hello from Acme!")


@pytest.fixture
def other_inbox(db: None) -> Inbox:
    return Inbox.objects.create(name="Other company")


@pytest.fixture
def agent(inbox: Inbox) -> Agent:
    return make_agent(username="alice", display_name="Alice", inbox=inbox)


@pytest.fixture
def second_agent(inbox: Inbox) -> Agent:
    return make_agent(username="bob", display_name="Bob", inbox=inbox)


@pytest.fixture
def outsider_agent(other_inbox: Inbox) -> Agent:
    """An agent of another inbox: must see nothing of `inbox`."""
    return make_agent(username="mallory", display_name="Mallory", inbox=other_inbox)


@pytest.fixture
def visitor(inbox: Inbox) -> Visitor:
    return visitor_create(inbox=inbox)


@pytest.fixture
def visitor_b(inbox: Inbox) -> Visitor:
    return visitor_create(inbox=inbox)
