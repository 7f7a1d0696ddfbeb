"""Message search (agents/search.py): ranked, highlighted, the agent's inboxes only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents.models import Agent
from agents.search import message_search
from chat.models import Inbox
from tests.agents.helpers import chat, logged_in, new_visitor

pytestmark = pytest.mark.django_db


def test_search_finds_ranked_highlighted_messages_of_the_agents_inboxes_only(
    inbox: Inbox, other_inbox: Inbox, agent: Agent, outsider_agent: Agent
) -> None:
    chat(new_visitor(inbox), "My invoice for March is wrong")
    chat(new_visitor(inbox), "Where is my parcel? <script>alert(1)</script> invoice")
    chat(new_visitor(other_inbox), "Another company's invoice question")
    hits = message_search(agent=agent, query="invoice")
    assert len(hits) == 2
    assert all("<mark>" in hit.snippet for hit in hits)
    joined = " ".join(hit.snippet for hit in hits)
    # Shown as text (SQLite escapes it; PostgreSQL's headline parser drops the tags): never markup.
    assert "<script" not in joined
    assert "alert(1)" in joined
    assert "Another company" not in joined
    assert message_search(agent=outsider_agent, query="March") == []
    assert message_search(agent=agent, query="   ") == []
    page = logged_in(agent).get(reverse("agents:search"), {"q": "invoice"})
    assert "2 results for" in page.content.decode()


def test_search_for_a_nul_finds_nothing_instead_of_failing(inbox: Inbox, agent: Agent) -> None:
    """PostgreSQL refuses a NUL in a query: the search drops it (no message holds one)."""
    chat(new_visitor(inbox), "My invoice is wrong")
    hits = message_search(agent=agent, query="invoice\x00")
    assert len(hits) == 1
    assert "<mark>invoice</mark> is wrong" in hits[0].snippet  # PostgreSQL may drop the "My"
    assert message_search(agent=agent, query="\x00") == []
    assert logged_in(agent).get(reverse("agents:search"), {"q": "\x00"}).status_code == 200
