"""Helpers shared by the agent tests: open a dashboard socket, start a chat, log in."""

from __future__ import annotations

import uuid

from django.test import Client

from agents import presence
from agents.models import Agent
from chat.models import Conversation, Inbox, Visitor
from chat.services import visitor_create, visitor_message_send


def connect(agent: Agent) -> str:
    """Open a dashboard 'socket' for `agent` as the consumer does; its channel name."""
    channel = f"test.{uuid.uuid4().hex}"
    presence.connection_open(agent=agent, channel_name=channel)
    return channel


def chat(visitor: Visitor, body: str = "Help please") -> Conversation:
    return visitor_message_send(
        visitor=visitor, body=body, client_id=uuid.uuid4()
    ).message.conversation


def logged_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def new_visitor(inbox: Inbox) -> Visitor:
    return visitor_create(inbox=inbox)
