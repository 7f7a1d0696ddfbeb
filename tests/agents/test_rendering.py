"""The conversation pane (agents/rendering.py): reply authors, opening at a search hit."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from agents.models import Agent
from agents.services import agent_reply
from chat.models import Visitor
from tests.agents.helpers import chat, logged_in

pytestmark = pytest.mark.django_db


def test_every_agent_reply_names_its_author_on_the_dashboard(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    agent_reply(
        conversation=conversation, agent=second_agent, body="Bob here", client_id=uuid.uuid4()
    )
    agent_reply(conversation=conversation, agent=agent, body="Alice too", client_id=uuid.uuid4())
    html = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    authors = re.findall(
        r'class="msg msg--agent msg--mine".*?<span class="msg__author"><bdi>(\w+)</bdi></span>\s*'
        r'<p class="msg__bubble" dir="auto">([^<]+)</p>',
        html.content.decode(),
        re.S,
    )
    assert authors == [("Bob", "Bob here"), ("Alice", "Alice too")]


def test_a_chat_opens_at_a_search_hit_with_everything_after_it(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor, "message 1")
    for i in range(2, 61):
        chat(visitor, f"message {i}")
    client = logged_in(agent)
    url = reverse("agents:conversation", args=[conversation.pk])

    def pane(**params: str) -> tuple[list[int], str | None]:
        html = client.get(url, params, headers={"HX-Request": "true"}).content.decode()
        seqs = [int(seq) for seq in re.findall(r'<li role="none" id="msg-\d+-(\d+)"', html)]
        found = re.search(r'data-found-seq="(\d+)"', html)
        return seqs, found.group(1) if found else None

    assert pane() == (list(range(21, 61)), None)  # the newest 40
    assert pane(at="10") == (list(range(5, 61)), "10")  # 5 before the hit, all after
    assert pane(at="58") == (list(range(21, 61)), "58")  # already among the newest 40
    for nonsense in ("0", "61", "-3", "abc", "1e9"):
        assert pane(at=nonsense) == (list(range(21, 61)), None), nonsense
