"""Labels (agents.triage): per inbox, put on and taken off chats by their agents, live on every
dashboard (a line for the agents alone carries the new state), never another inbox's; found
by search (`label:name`) and counted in analytics."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import transaction
from django.urls import reverse

from agents.analytics import Scope, analytics_report, last_days, zone_named
from agents.models import Agent
from agents.search import message_search
from agents.selectors import conversation_lists
from agents.triage import conversation_label_set
from chat.models import Inbox, Label, Message, Visitor
from chat.payloads import for_visitor
from chat.posting import agent_reply_post
from chat.selectors import conversation_summary
from tests.agents.helpers import chat, logged_in, new_visitor
from tests.conftest import published_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing(inbox: Inbox) -> Label:
    return Label.objects.create(inbox=inbox, name="Billing", color="#e03131")


@pytest.fixture
def bug(inbox: Inbox) -> Label:
    return Label.objects.create(inbox=inbox, name="Bug", color="#1971c2")


def test_a_label_goes_on_with_a_line_for_the_agents_alone(
    visitor: Visitor, agent: Agent, billing: Label, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        conversation_label_set(conversation=conversation, by=agent, label_id=billing.pk, on=True)
    (event,) = published_messages(callbacks)
    assert event["conversation"]["labels"] == [
        {"id": billing.pk, "name": "Billing", "color": "#e03131"}
    ]
    assert event["message"]["body"] == "Alice added the label Billing."
    # The visitor's copy keeps the seq, and nothing else.
    seen = for_visitor(event)["message"]
    assert (seen["seq"], seen["body"], seen["author_name"]) == (event["message"]["seq"], "", "")
    line = conversation.messages.order_by("-seq").first()
    assert line is not None
    assert line.audience == Message.Audience.AGENTS


def test_putting_a_label_on_twice_changes_nothing_and_off_takes_it_off(
    visitor: Visitor, agent: Agent, billing: Label, bug: Label
) -> None:
    conversation = chat(visitor)
    conversation_label_set(conversation=conversation, by=agent, label_id=billing.pk, on=True)
    seq = conversation_summary(conversation.pk)["last_seq"]
    conversation_label_set(conversation=conversation, by=agent, label_id=billing.pk, on=True)
    assert conversation_summary(conversation.pk)["last_seq"] == seq
    conversation_label_set(conversation=conversation, by=agent, label_id=bug.pk, on=True)
    assert [label["name"] for label in conversation_summary(conversation.pk)["labels"]] == [
        "Billing",
        "Bug",
    ]
    conversation_label_set(conversation=conversation, by=agent, label_id=billing.pk, on=False)
    assert [label["name"] for label in conversation_summary(conversation.pk)["labels"]] == ["Bug"]
    assert "Alice removed the label Billing." in [m.body for m in conversation.messages.all()]


def test_every_path_of_a_message_carries_the_labels(
    visitor: Visitor, agent: Agent, billing: Label, django_capture_on_commit_callbacks
) -> None:
    """The list row a message re-renders must keep the chat's labels: the fast path's event
    (chat.posting) carries them as the lists and the full path do."""
    conversation = chat(visitor)
    conversation_label_set(conversation=conversation, by=agent, label_id=billing.pk, on=True)
    from agents.services import conversation_claim

    conversation_claim(conversation=conversation, agent=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert agent_reply_post(
            agent=agent, conversation_id=conversation.pk, body="On it", client_id=uuid.uuid4()
        )
    (event,) = published_messages(callbacks)
    assert [label["name"] for label in event["conversation"]["labels"]] == ["Billing"]
    (row,) = conversation_lists(agent=agent)["active"]
    assert row["labels"] == event["conversation"]["labels"]


def test_a_label_of_another_inbox_is_no_label_here(
    visitor: Visitor, agent: Agent, other_inbox: Inbox, outsider_agent: Agent, billing: Label
) -> None:
    foreign = Label.objects.create(inbox=other_inbox, name="Theirs")
    conversation = chat(visitor)
    with pytest.raises(Label.DoesNotExist):
        conversation_label_set(conversation=conversation, by=agent, label_id=foreign.pk, on=True)
    url = reverse("agents:labels", args=[conversation.pk])
    client = logged_in(agent)
    assert client.post(url, {"label": foreign.pk, "on": "1"}).status_code == 404
    assert client.post(url, {"label": "nope", "on": "1"}).status_code == 404
    # An agent of another inbox cannot label this chat, even with this inbox's label.
    assert logged_in(outsider_agent).post(url, {"label": billing.pk, "on": "1"}).status_code == 404
    assert not conversation.labels.exists()
    response = client.post(url, {"label": billing.pk, "on": "1"})
    assert response.status_code == 200
    assert 'class="label" data-color="#e03131"' in response.content.decode()
    assert client.post(url, {"label": billing.pk}).status_code == 200  # off
    assert not conversation.labels.exists()


def test_a_rolled_back_label_publishes_nothing(
    visitor: Visitor, agent: Agent, billing: Label, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)

    def label_then_fail() -> None:
        with transaction.atomic():
            conversation_label_set(
                conversation=conversation, by=agent, label_id=billing.pk, on=True
            )
            raise RuntimeError

    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
    ):
        label_then_fail()
    assert published_messages(callbacks) == []
    assert not conversation.labels.exists()


def test_the_dashboard_shows_labels_on_rows_the_filter_and_the_picker(
    visitor: Visitor, agent: Agent, billing: Label, bug: Label
) -> None:
    conversation = chat(visitor)
    conversation_label_set(conversation=conversation, by=agent, label_id=bug.pk, on=True)
    page = logged_in(agent).get(reverse("agents:dashboard")).content.decode()
    row = re.search(rf'<li id="conv-row-{conversation.pk}".*?</li>', page, re.S)
    assert row is not None
    assert f'data-labels=" {bug.pk} "' in row.group(0)
    assert '<span class="label" data-color="#1971c2"><bdi>Bug</bdi></span>' in row.group(0)
    assert f'<option value="{billing.pk}">Billing</option>' in page
    pane = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    text = pane.content.decode()
    assert f'data-label="{bug.pk}"' in text
    assert re.search(rf'checked data-label="{bug.pk}"', text)
    assert not re.search(rf'checked data-label="{billing.pk}"', text)


def test_search_finds_chats_by_label(
    visitor: Visitor, visitor_b: Visitor, agent: Agent, billing: Label, inbox: Inbox
) -> None:
    labelled = chat(visitor, "My invoice is wrong")
    other = chat(visitor_b, "My invoice is late")
    conversation_label_set(conversation=labelled, by=agent, label_id=billing.pk, on=True)
    hits = message_search(agent=agent, query="label:billing")
    assert [h.conversation_id for h in hits] == [labelled.pk]
    assert "invoice" in hits[0].snippet
    both = message_search(agent=agent, query="invoice")
    assert {h.conversation_id for h in both} == {labelled.pk, other.pk}
    only = message_search(agent=agent, query='invoice label:"Billing"')
    assert [h.conversation_id for h in only] == [labelled.pk]
    assert message_search(agent=agent, query="label:nothing") == []
    page = logged_in(agent).get(reverse("agents:search"), {"q": "label:Billing"})
    assert f"chat #{labelled.pk}" in page.content.decode()
    assert f"chat #{other.pk}" not in page.content.decode()


def test_search_by_label_stays_in_the_agents_inboxes(
    agent: Agent, outsider_agent: Agent, other_inbox: Inbox
) -> None:
    theirs = Label.objects.create(inbox=other_inbox, name="Billing")
    conversation = chat(new_visitor(other_inbox))
    conversation_label_set(
        conversation=conversation, by=outsider_agent, label_id=theirs.pk, on=True
    )
    assert message_search(agent=agent, query="label:billing") == []
    assert [
        h.conversation_id for h in message_search(agent=outsider_agent, query="label:billing")
    ] == [conversation.pk]


def test_analytics_count_the_chats_of_each_label(
    visitor: Visitor, visitor_b: Visitor, agent: Agent, billing: Label, bug: Label, inbox: Inbox
) -> None:
    first, second = chat(visitor), chat(visitor_b)
    for conversation in (first, second):
        conversation_label_set(conversation=conversation, by=agent, label_id=billing.pk, on=True)
    conversation_label_set(conversation=first, by=agent, label_id=bug.pk, on=True)
    zone = zone_named("UTC")
    first_day, last_day = last_days(7, zone)
    report = analytics_report(
        scope=Scope(
            first_day=first_day, last_day=last_day, zone=zone, inbox_ids=None, agent_id=None
        )
    )
    counts = {row["name"]: row["conversations"] for row in report.labels}
    assert counts == {"Billing": 2, "Bug": 1}
    assert report.summary["conversations"] == 2  # a chat with two labels is one chat
    agent.role = Agent.Role.ADMIN
    agent.save()
    page = logged_in(agent).get(reverse("agents:analytics")).content.decode()
    assert f'id="label-row-{billing.pk}"' in page


def test_the_rest_api_lists_a_chats_labels_and_friendly_name(
    visitor: Visitor, agent: Agent, billing: Label, bug: Label
) -> None:
    from tests.api.conftest import Api, token_for

    conversation = chat(visitor)
    for label in (bug, billing):
        conversation_label_set(conversation=conversation, by=agent, label_id=label.pk, on=True)
    api = Api(token_for(agent))
    (row,) = api.get("/api/v1/conversations/").json()["results"]
    assert row["labels"] == ["Billing", "Bug"]
    assert row["visitor_name"] == visitor.display_name
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", row["visitor_name"])
    one = api.get(f"/api/v1/conversations/{conversation.pk}/").json()
    assert one["labels"] == ["Billing", "Bug"]
