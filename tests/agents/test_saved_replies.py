"""Saved replies (canned_responses, saved_reply_create and their views)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from agents.models import Agent, CannedResponse
from agents.selectors import canned_responses
from agents.services import saved_reply_create
from chat.models import Inbox
from tests.agents.helpers import logged_in

pytestmark = pytest.mark.django_db


def test_saved_replies_are_the_inboxes_and_ones_own_a_personal_one_winning(
    inbox: Inbox, other_inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    CannedResponse.objects.create(inbox=inbox, shortcut="hi", body="Hello! How can I help?")
    CannedResponse.objects.create(inbox=inbox, shortcut="bye", body="Have a nice day.")
    CannedResponse.objects.create(inbox=other_inbox, shortcut="theirs", body="Not ours.")
    CannedResponse.objects.create(agent=agent, shortcut="hi", body="Hi, Alice here!")
    mine = {c["shortcut"]: c["body"] for c in canned_responses(agent=agent, inbox_id=inbox.pk)}
    assert mine == {"bye": "Have a nice day.", "hi": "Hi, Alice here!"}
    theirs = canned_responses(agent=second_agent, inbox_id=inbox.pk)
    assert {c["shortcut"]: c["body"] for c in theirs}["hi"] == "Hello! How can I help?"


def test_a_saved_reply_is_at_most_as_long_as_a_message(
    inbox: Inbox, agent: Agent, settings
) -> None:
    """Issue 16: 2.4 MB were accepted as a saved reply. It is sent as a message: the same limit."""
    settings.SUPPORTDESK_MAX_MESSAGE_LENGTH = 100
    client = logged_in(agent)
    url = reverse("agents:replies")
    too_long = client.post(url, {"shortcut": "essay", "body": "x" * 101})
    assert too_long.status_code == 422
    assert "at most 100 characters" in too_long.content.decode()
    with pytest.raises(ValidationError):
        saved_reply_create(agent=agent, shortcut="essay", body="x" * 101)
    assert not CannedResponse.objects.exists()
    assert client.post(url, {"shortcut": "ok", "body": "x" * 100}).status_code == 302


def test_an_agent_manages_their_own_saved_replies_and_only_theirs(
    inbox: Inbox, agent: Agent, second_agent: Agent
) -> None:
    shared = CannedResponse.objects.create(inbox=inbox, shortcut="hi", body="Hello!")
    client = logged_in(agent)
    url = reverse("agents:replies")
    assert client.post(url, {"shortcut": "thanks", "body": "Thank you!"}).status_code == 302
    again = client.post(url, {"shortcut": "thanks", "body": "Twice"})
    assert again.status_code == 422
    assert "You already have /thanks." in again.content.decode()
    assert client.post(url, {"shortcut": "no spaces", "body": "x"}).status_code == 422
    page = client.get(url).content.decode()
    assert "/thanks" in page
    assert "Hello!" in page  # shared, listed read-only
    mine = CannedResponse.objects.get(agent=agent)
    theirs = CannedResponse.objects.create(agent=second_agent, shortcut="bob", body="Bob's")
    for other in (theirs, shared):
        delete = reverse("agents:reply_delete", args=[other.pk])
        assert client.post(delete).status_code == 404
    assert client.post(reverse("agents:reply_delete", args=[mine.pk])).status_code == 302
    assert set(CannedResponse.objects.values_list("shortcut", flat=True)) == {"hi", "bob"}
