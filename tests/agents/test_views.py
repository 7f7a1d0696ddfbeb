from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from agents.services import conversation_claim
from chat.models import Conversation, Inbox, Message, Visitor
from chat.services import visitor_message_send

pytestmark = pytest.mark.django_db


def logged_in(agent: Agent) -> Client:
    client = Client()
    client.force_login(agent.user)
    return client


def start_chat(visitor: Visitor, body: str = "Help please") -> Conversation:
    return visitor_message_send(
        visitor=visitor, body=body, client_id=uuid.uuid4()
    ).message.conversation


def conversation_urls(pk: int) -> list[tuple[str, str]]:
    return [
        ("get", reverse("agents:conversation", args=[pk])),
        ("get", reverse("agents:history", args=[pk]) + "?before=2"),
        ("post", reverse("agents:reply", args=[pk])),
        ("post", reverse("agents:claim", args=[pk])),
        ("post", reverse("agents:end", args=[pk])),
        ("post", reverse("agents:note", args=[pk])),
        ("post", reverse("agents:transfer", args=[pk])),
    ]


AGENT_URLS = [
    ("get", reverse("agents:dashboard")),
    ("get", reverse("agents:search") + "?q=help"),
    ("post", reverse("agents:availability")),
    ("get", reverse("agents:replies")),
    ("post", reverse("agents:replies")),
    ("post", reverse("agents:reply_delete", args=[1])),
]


def test_anonymous_users_are_sent_to_login(client: Client, visitor: Visitor) -> None:
    conversation = start_chat(visitor)
    for method, url in [*AGENT_URLS, *conversation_urls(conversation.pk)]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/")


def test_a_user_who_is_not_an_agent_is_forbidden(visitor: Visitor) -> None:
    conversation = start_chat(visitor)
    client = Client()
    client.force_login(get_user_model().objects.create_user("plain", password="x"))
    for method, url in [*AGENT_URLS, *conversation_urls(conversation.pk)]:
        assert getattr(client, method)(url).status_code == 403, url


def test_an_agent_of_another_inbox_gets_404_and_changes_nothing(
    visitor: Visitor, outsider_agent: Agent
) -> None:
    conversation = start_chat(visitor)
    client = logged_in(outsider_agent)
    for method, url in conversation_urls(conversation.pk):
        assert (
            getattr(client, method)(url, {"body": "x", "client_id": str(uuid.uuid4())}).status_code
            == 404
        )
    assert "Help please" not in client.get(reverse("agents:dashboard")).content.decode()
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING
    assert conversation.messages.count() == 1


def test_forged_conversation_ids_get_404(agent: Agent) -> None:
    client = logged_in(agent)
    assert client.get(reverse("agents:conversation", args=[999999])).status_code == 404


def test_dashboard_lists_waiting_chats_first_oldest_on_top(
    agent: Agent, visitor: Visitor, visitor_b: Visitor
) -> None:
    older = start_chat(visitor, "older question")
    newer = start_chat(visitor_b, "newer question")
    page = logged_in(agent).get(reverse("agents:dashboard")).content.decode()
    waiting = page[page.index('id="list-waiting"') : page.index('id="list-active"')]
    assert waiting.index(f'id="conv-row-{older.pk}"') < waiting.index(f'id="conv-row-{newer.pk}"')
    assert "newer question" in waiting


def test_conversation_opens_as_a_fragment_for_htmx_and_a_page_otherwise(
    agent: Agent, visitor: Visitor
) -> None:
    conversation = start_chat(visitor, "what a question")
    client = logged_in(agent)
    url = reverse("agents:conversation", args=[conversation.pk])
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    page = client.get(url).content.decode()
    for html in (fragment, page):
        assert "what a question" in html
        assert f'id="log-{conversation.pk}"' in html
        assert 'role="log"' in html
    assert "<html" not in fragment
    assert "<html" in page


def test_claim_then_a_second_claim_is_told_who_has_it(
    agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    conversation = start_chat(visitor)
    url = reverse("agents:claim", args=[conversation.pk])
    first = logged_in(agent).post(url)
    assert first.status_code == 200
    assert 'data-status="active"' in first.content.decode()
    second = logged_in(second_agent).post(url)
    assert second.status_code == 409
    assert "Alice already took this chat." in second.content.decode()
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


def test_reply_to_a_waiting_chat_claims_it_and_is_idempotent(
    agent: Agent, visitor: Visitor
) -> None:
    conversation = start_chat(visitor)
    client = logged_in(agent)
    data = {"body": "On it!", "client_id": str(uuid.uuid4())}
    url = reverse("agents:reply", args=[conversation.pk])
    first = client.post(url, data)
    again = client.post(url, data)
    assert (first.status_code, again.status_code) == (201, 200)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ACTIVE
    assert conversation.assigned_agent == agent
    assert list(conversation.messages.values_list("sender_kind", "body")) == [
        ("visitor", "Help please"),
        ("system", "Alice joined the chat."),
        ("agent", "On it!"),
    ]


def test_an_empty_reply_claims_nothing(agent: Agent, visitor: Visitor) -> None:
    conversation = start_chat(visitor)
    response = logged_in(agent).post(
        reverse("agents:reply", args=[conversation.pk]),
        {"body": " ", "client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 422
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING


def test_a_colleague_may_reply_to_an_active_chat_without_taking_it(
    agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    conversation = start_chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    response = logged_in(second_agent).post(
        reverse("agents:reply", args=[conversation.pk]),
        {"body": "Adding a note", "client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 201
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent
    note = next(m for m in Message.objects.all() if m.body == "Adding a note")
    assert note.author_agent == second_agent


def test_end_then_reply_is_refused_with_409(agent: Agent, visitor: Visitor) -> None:
    conversation = start_chat(visitor)
    client = logged_in(agent)
    assert client.post(reverse("agents:end", args=[conversation.pk])).status_code == 200
    assert client.post(reverse("agents:end", args=[conversation.pk])).status_code == 409
    response = client.post(
        reverse("agents:reply", args=[conversation.pk]),
        {"body": "hello?", "client_id": str(uuid.uuid4())},
    )
    assert response.status_code == 409
    assert response.json()["error"] == "conversation_ended"


def test_admin_lists_conversations_with_messages_inline(
    admin_client: Client, visitor: Visitor
) -> None:
    conversation = start_chat(visitor, "visible to the admin")
    assert (
        admin_client.get(
            reverse("admin:chat_conversation_changelist") + "?status=waiting"
        ).status_code
        == 200
    )
    assert (
        admin_client.get(reverse("admin:chat_conversation_changelist") + "?q=visible").status_code
        == 200
    )
    page = admin_client.get(
        reverse("admin:chat_conversation_change", args=[conversation.pk])
    ).content.decode()
    assert "visible to the admin" in page
    # Nothing of the conversation itself can be edited there: read marks, times and state
    # change through the services only.
    form = page.split('id="conversation_form"')[1].split('id="messages-group"')[0]
    assert not re.search(r'<(input|select|textarea)[^>]+name="(?!csrf)', form), form
    assert 'name="_save"' not in page  # view only: no Save that writes the row back
    for name in ["chat_inbox", "chat_visitor", "chat_message", "agents_agent"]:
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name


def test_the_inbox_admin_gives_a_snippet_with_this_desks_address(
    admin_client: Client, inbox, settings
) -> None:
    settings.ALLOWED_HOSTS = ["desk.example.com"]
    page = admin_client.get(
        reverse("admin:chat_inbox_change", args=[inbox.pk]), HTTP_HOST="desk.example.com"
    ).content.decode()
    assert (
        f'&lt;script src="http://desk.example.com/widget.js" data-inbox="{inbox.public_key}" '
        "async&gt;&lt;/script&gt;"
    ) in page


def test_the_inbox_admin_sets_colour_time_zone_and_open_days_with_pickers(
    admin_client: Client, inbox
) -> None:
    url = reverse("admin:chat_inbox_change", args=[inbox.pk])
    page = admin_client.get(url).content.decode()
    assert 'type="color" name="accent_color" value="#3b5bdb"' in page
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in page
    for day in "12345":  # the default, Monday to Friday, ticked
        assert re.search(rf'type="checkbox" name="open_days" value="{day}"[^>]*checked', page)
    assert not re.search(r'type="checkbox" name="open_days" value="6"[^>]*checked', page)

    form = {
        "name": inbox.name, "widget_title": "", "greeting": inbox.greeting,
        "accent_color": "#e8590c", "launcher_position": "left", "allowed_origins": "",
        "assignment": "manual", "auto_end_minutes": "", "time_zone": "Europe/Berlin",
        "open_days": ["6", "1", "3"], "opens_at": "09:00", "closes_at": "17:00",
        "wait_warn_minutes": "2", "wait_alert_minutes": "5",
        "labels-TOTAL_FORMS": "0", "labels-INITIAL_FORMS": "0",  # the labels inline, empty
    }  # fmt: skip
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    inbox.refresh_from_db()
    assert (inbox.accent_color, inbox.time_zone, inbox.open_days) == (
        "#e8590c",
        "Europe/Berlin",
        "136",
    )
    # A zone saved as free text before the list is kept when something else is changed.
    Inbox.objects.filter(pk=inbox.pk).update(time_zone="US/Pacific-New")
    assert admin_client.post(url, {**form, "time_zone": "US/Pacific-New"}).status_code == 302
    inbox.refresh_from_db()
    assert inbox.time_zone == "US/Pacific-New"
    Inbox.objects.filter(pk=inbox.pk).update(time_zone="Europe/Berlin")
    refused = admin_client.post(url, {**form, "time_zone": "Mars/Olympus", "open_days": []})
    assert refused.status_code == 200  # the form again, with the errors
    inbox.refresh_from_db()
    assert (inbox.time_zone, inbox.open_days) == ("Europe/Berlin", "136")


def test_a_follow_up_chat_links_to_the_one_before(agent: Agent, visitor: Visitor) -> None:
    from chat.services import conversation_end

    first = start_chat(visitor, "first chat")
    conversation_end(conversation=first, by=agent)
    second = start_chat(visitor, "back again")
    page = logged_in(agent).get(reverse("agents:conversation", args=[second.pk])).content.decode()
    assert f'href="{reverse("agents:conversation", args=[first.pk])}"' in page
    assert f"chat #{first.pk}" in page


def test_a_long_chat_opens_with_its_newest_messages_and_shows_earlier_ones_on_request(
    agent: Agent, visitor: Visitor
) -> None:
    """The pane opens with the newest 40 messages (rendering is most of opening a chat); above
    them, "Show earlier messages" loads the 40 before, and so on to the first."""
    for i in range(1, 86):
        conversation = start_chat(visitor, f"line {i}")
    client = logged_in(agent)
    pane = client.get(
        reverse("agents:conversation", args=[conversation.pk]), HTTP_HX_REQUEST="true"
    )
    html = pane.content.decode()
    shown = [int(seq) for seq in re.findall(rf'id="msg-{conversation.pk}-(\d+)"', html)]
    assert shown == list(range(46, 86))
    history = reverse("agents:history", args=[conversation.pk])
    assert f'hx-get="{history}?before=46"' in html

    page = client.get(history, {"before": 46}).content.decode()
    assert [int(s) for s in re.findall(rf'id="msg-{conversation.pk}-(\d+)"', page)] == list(
        range(6, 46)
    )
    assert f'hx-get="{history}?before=6"' in page  # and a button for the rest
    last = client.get(history, {"before": 6}).content.decode()
    assert [int(s) for s in re.findall(rf'id="msg-{conversation.pk}-(\d+)"', last)] == [
        1, 2, 3, 4, 5,
    ]  # fmt: skip
    assert "Show earlier messages" not in last
    assert "line 1<" in last

    assert client.get(history, {"before": "x"}).status_code == 400
    short = start_chat(visitor_of(agent), "short")
    pane = client.get(reverse("agents:conversation", args=[short.pk]), HTTP_HX_REQUEST="true")
    assert "Show earlier messages" not in pane.content.decode()


def visitor_of(agent: Agent) -> Visitor:
    return Visitor.objects.create(inbox=agent.inboxes.get())
