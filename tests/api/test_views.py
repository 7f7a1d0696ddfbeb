"""The REST API's endpoints (api/views.py): every resource, its filters and pagination, the
same rules as the dashboard (404 across inboxes, 409 for a taken or ended chat), one error
shape."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Activity, Agent, CannedResponse, ReadMark
from agents.services import conversation_claim, saved_reply_create
from chat.events import publish_now
from chat.groups import agent_group
from chat.models import Conversation, Inbox, Message, Visitor
from chat.services import conversation_end, visitor_create
from tests.agents.helpers import chat, connect
from tests.api.conftest import Api, token_for
from tests.conftest import make_agent, published_messages

pytestmark = pytest.mark.django_db


def url(path: str) -> str:
    return f"/api/v1/{path}"


# --- Inboxes ------------------------------------------------------------------------------------


def test_inboxes_are_the_agents_own(api: Api, inbox: Inbox, other_inbox: Inbox) -> None:
    response = api.get(url("inboxes/"))
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == [inbox.pk]
    assert response.json()[0]["public_key"] == inbox.public_key
    assert api.get(url(f"inboxes/{inbox.pk}/")).json()["name"] == "Acme support"
    assert api.get(url(f"inboxes/{other_inbox.pk}/")).status_code == 404


def test_an_admin_token_sees_every_inbox(admin_agent: Agent, inbox: Inbox, other_inbox) -> None:
    rows = Api(token_for(admin_agent)).get(url("inboxes/")).json()
    assert {row["id"] for row in rows} == {inbox.pk, other_inbox.pk}


# --- Conversations: list, filters, pagination ---------------------------------------------------


def test_conversation_list_has_the_agents_conversations_only(
    api: Api, visitor: Visitor, other_inbox: Inbox
) -> None:
    mine = chat(visitor)
    chat(visitor_create(inbox=other_inbox))
    body = api.get(url("conversations/")).json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert row["status"] == "waiting"
    assert row["inbox_name"] == "Acme support"
    assert row["last_seq"] == 1
    assert set(body) == {"next", "previous", "results"}


def test_conversation_filters(api: Api, agent: Agent, second_agent: Agent, inbox: Inbox) -> None:
    waiting = chat(visitor_create(inbox=inbox))
    alices = conversation_claim(conversation=chat(visitor_create(inbox=inbox)), agent=agent)
    bobs = conversation_claim(conversation=chat(visitor_create(inbox=inbox)), agent=second_agent)
    ended = conversation_claim(conversation=chat(visitor_create(inbox=inbox)), agent=agent)
    conversation_end(conversation=ended, by=agent)

    def ids(**params: object) -> set[int]:
        response = api.get(url("conversations/"), params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="waiting") == {waiting.pk}
    assert ids(status="active") == {alices.pk, bobs.pk}
    assert ids(status="ended") == {ended.pk}
    assert ids(agent=agent.pk) == {alices.pk, ended.pk}
    assert ids(agent=second_agent.pk, status="active") == {bobs.pk}
    assert ids(inbox=inbox.pk) == {waiting.pk, alices.pk, bobs.pk, ended.pk}
    assert ids(inbox=inbox.pk + 1000) == set()
    # updated_since: only what changed at or after the time (a message or a system line).
    Conversation.objects.filter(pk__in=[waiting.pk, bobs.pk]).update(
        last_message_at=timezone.now() - timedelta(hours=2)
    )
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids(updated_since=since) == {alices.pk, ended.pk}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "nonsense"},
        {"inbox": "x"},
        {"agent": "1.5"},
        {"updated_since": "yesterday"},
        {"limit": "0"},
        {"ordering": "id"},
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api: Api, params: dict) -> None:
    response = api.get(url("conversations/"), params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == set(params)


def test_conversations_come_a_page_at_a_time_by_cursor(api: Api, inbox: Inbox) -> None:
    made = [chat(visitor_create(inbox=inbox)) for _ in range(5)]
    # Two share an updated_at: the cursor still lists each once.
    same = timezone.now() - timedelta(minutes=5)
    Conversation.objects.filter(pk__in=[made[1].pk, made[2].pk]).update(last_message_at=same)
    seen: list[int] = []
    page = api.get(url("conversations/"), {"limit": 2}).json()
    while True:
        assert len(page["results"]) <= 2
        seen += [row["id"] for row in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    assert sorted(seen) == sorted(c.pk for c in made)
    assert len(seen) == len(set(seen))
    updated = [row["updated_at"] for row in api.get(url("conversations/")).json()["results"]]
    assert updated == sorted(updated, reverse=True)
    oldest_first = api.get(url("conversations/"), {"ordering": "updated_at"}).json()["results"]
    assert [row["updated_at"] for row in oldest_first] == sorted(updated)


def test_a_forged_cursor_is_a_404_not_a_500(api: Api) -> None:
    response = api.get(url("conversations/"), {"cursor": "%%%not base64"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_another_inboxs_conversation_is_a_404_everywhere(
    api: Api, other_inbox: Inbox, outsider_agent: Agent
) -> None:
    theirs = chat(visitor_create(inbox=other_inbox), "secret of inbox 2")
    before = list(Message.objects.values_list("pk", flat=True))
    for path in ["", "messages/"]:
        response = api.get(url(f"conversations/{theirs.pk}/{path}"))
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    for path, data in [
        ("messages/", {"body": "hi"}),
        ("claim/", {}),
        ("assign/", {"agent": outsider_agent.pk}),
        ("transfer/", {"agent": outsider_agent.pk}),
        ("end/", {}),
        ("read/", {"seq": 1}),
    ]:
        assert api.post(url(f"conversations/{theirs.pk}/{path}"), data).status_code == 404, path
    assert list(Message.objects.values_list("pk", flat=True)) == before
    assert "secret" not in api.get(url("conversations/")).content.decode()


# --- Conversations: actions ---------------------------------------------------------------------


def test_claim_then_a_second_claim_is_a_409(
    api: Api, agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    conversation = chat(visitor)
    response = api.post(url(f"conversations/{conversation.pk}/claim/"))
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["assigned_agent_id"] == agent.pk
    assert Activity.objects.filter(actor=agent, verb=Activity.Verb.CLAIM).count() == 1
    other = Api(token_for(second_agent)).post(url(f"conversations/{conversation.pk}/claim/"))
    assert other.status_code == 409
    assert other.json()["error"] == "already_assigned"


def test_assign_a_waiting_chat_to_a_colleague(
    api: Api, second_agent: Agent, outsider_agent: Agent, visitor: Visitor
) -> None:
    conversation = chat(visitor)
    refused = api.post(
        url(f"conversations/{conversation.pk}/assign/"), {"agent": outsider_agent.pk}
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "bad_agent"
    response = api.post(url(f"conversations/{conversation.pk}/assign/"), {"agent": second_agent.pk})
    assert response.status_code == 200
    assert response.json()["assigned_agent_name"] == "Bob"
    again = api.post(url(f"conversations/{conversation.pk}/assign/"), {"agent": second_agent.pk})
    assert again.status_code == 200  # already theirs: nothing changes
    assert api.post(url(f"conversations/{conversation.pk}/assign/"), {}).status_code == 400


def test_transfer_hands_over_with_a_note(
    api: Api, agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    conversation = conversation_claim(conversation=chat(visitor), agent=agent)
    response = api.post(
        url(f"conversations/{conversation.pk}/transfer/"),
        {"agent": second_agent.pk, "note": "VIP, be quick"},
    )
    assert response.status_code == 200
    assert response.json()["assigned_agent_id"] == second_agent.pk
    note = conversation.messages.get(sender_kind=Message.SenderKind.NOTE)
    assert note.body == "VIP, be quick"
    again = api.post(url(f"conversations/{conversation.pk}/transfer/"), {"agent": second_agent.pk})
    assert again.status_code == 409


def test_end_then_writes_are_409(api: Api, visitor: Visitor) -> None:
    conversation = chat(visitor)
    response = api.post(url(f"conversations/{conversation.pk}/end/"))
    assert response.status_code == 200
    assert response.json()["status"] == "ended"
    assert response.json()["ended_at"]
    for path in ["end/", "claim/"]:
        refused = api.post(url(f"conversations/{conversation.pk}/{path}"))
        assert refused.status_code == 409
        assert refused.json()["error"] == "conversation_ended"
    reply = api.post(url(f"conversations/{conversation.pk}/messages/"), {"body": "late"})
    assert reply.status_code == 409
    assert reply.json()["error"] == "conversation_ended"


def test_read_mark_moves_forward_only_and_tells_the_agents_tabs(
    api: Api, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    chat(visitor, "second")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(url(f"conversations/{conversation.pk}/read/"), {"seq": 99})
    assert response.json() == {"seq": 2}  # capped to what exists
    assert ReadMark.objects.get(agent=agent, conversation=conversation).seq == 2
    tabs = [c.args for c in callbacks if getattr(c, "func", None) is publish_now]
    assert (
        [agent_group(agent.pk)],
        {"type": "agent.read", "conversation_id": conversation.pk, "seq": 2},
    ) in tabs
    assert api.post(url(f"conversations/{conversation.pk}/read/"), {"seq": 1}).json() == {"seq": 2}
    assert api.post(url(f"conversations/{conversation.pk}/read/"), {"seq": -1}).status_code == 400


# --- Messages -----------------------------------------------------------------------------------


def test_a_reply_claims_a_waiting_chat_and_is_published_as_a_click_is(
    api: Api, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    client_id = str(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(
            url(f"conversations/{conversation.pk}/messages/"),
            {"body": "  Happy to help!  ", "client_id": client_id},
        )
    assert response.status_code == 201
    message = response.json()
    assert message["body"] == "Happy to help!"
    assert message["sender_kind"] == "agent"
    assert message["author_name"] == "Alice"
    assert message["client_id"] == client_id
    conversation.refresh_from_db()
    assert conversation.assigned_agent_id == agent.pk  # replying claims, as on the dashboard
    events = published_messages(callbacks)
    assert [e["message"]["body"] for e in events] == ["Alice joined the chat.", "Happy to help!"]


def test_a_retry_with_the_same_client_id_returns_the_same_message(
    api: Api, agent: Agent, visitor: Visitor
) -> None:
    conversation = conversation_claim(conversation=chat(visitor), agent=agent)
    body = {"body": "Once only", "client_id": str(uuid.uuid4())}
    first = api.post(url(f"conversations/{conversation.pk}/messages/"), body)
    second = api.post(url(f"conversations/{conversation.pk}/messages/"), body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert [m.body for m in conversation.messages.all()].count("Once only") == 1


def test_without_a_client_id_each_post_is_a_new_message(
    api: Api, agent: Agent, visitor: Visitor
) -> None:
    conversation = conversation_claim(conversation=chat(visitor), agent=agent)
    for _ in range(2):
        assert (
            api.post(url(f"conversations/{conversation.pk}/messages/"), {"body": "hi"}).status_code
            == 201
        )
    assert [m.body for m in conversation.messages.all()].count("hi") == 2


def test_an_internal_note_goes_through_note_create(
    api: Api, agent: Agent, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            url(f"conversations/{conversation.pk}/messages/"),
            {"body": "Check the order first", "internal": True},
        )
    assert response.status_code == 201
    assert response.json()["sender_kind"] == "note"
    conversation.refresh_from_db()
    assert conversation.status == "waiting"  # a note claims nothing
    assert Activity.objects.filter(actor=agent, verb=Activity.Verb.NOTE).count() == 1


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"body": ""}, 422, "empty"),
        ({"body": "   "}, 422, "empty"),
        ({"body": "a\x00b"}, 422, "invalid_character"),
        ({"body": "x" * 20_000}, 422, "too_long"),
        ({"body": "hi", "client_id": "not-a-uuid"}, 400, "invalid"),
        ({}, 400, "invalid"),
        ({"body": ["x"]}, 400, "invalid"),
    ],
)
def test_a_refused_message_says_why(
    api: Api, visitor: Visitor, data: dict, status: int, error: str
) -> None:
    conversation = chat(visitor)
    response = api.post(url(f"conversations/{conversation.pk}/messages/"), data)
    assert response.status_code == status, response.content
    assert response.json()["error"] == error
    assert conversation.messages.count() == 1


def test_messages_after_a_seq_with_a_limit(api: Api, agent: Agent, visitor: Visitor) -> None:
    conversation = chat(visitor, "one")
    for body in ["two", "three", "four"]:
        chat(visitor, body)
    Api(token_for(agent)).post(
        url(f"conversations/{conversation.pk}/messages/"), {"body": "note", "internal": True}
    )
    page = api.get(
        url(f"conversations/{conversation.pk}/messages/"), {"after": 1, "limit": 2}
    ).json()
    assert [(m["seq"], m["body"]) for m in page["results"]] == [(2, "two"), (3, "three")]
    assert page["has_more"] is True
    rest = api.get(url(f"conversations/{conversation.pk}/messages/"), {"after": 3}).json()
    assert [m["body"] for m in rest["results"]] == ["four", "note"]  # agents see their notes
    assert rest["has_more"] is False
    assert (
        api.get(url(f"conversations/{conversation.pk}/messages/"), {"limit": 500}).status_code
        == 400
    )


# --- Visitors -----------------------------------------------------------------------------------


def test_visitor_read_and_update(
    api: Api, visitor: Visitor, django_capture_on_commit_callbacks
) -> None:
    chat(visitor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.patch(
            url(f"visitors/{visitor.pk}/"),
            {"name": "Ann", "email": "ann@example.com", "attributes": {"plan": "pro", "seats": 3}},
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["email"], body["display_name"]) == ("Ann", "ann@example.com", "Ann")
    assert body["attributes"] == {"plan": "pro", "seats": 3}
    assert any(
        c.args[1].get("type") == "visitor.context"
        for c in callbacks
        if getattr(c, "func", None) is publish_now
    )
    # Only the name; attributes merged, null deletes.
    api.patch(url(f"visitors/{visitor.pk}/"), {"name": "Ann B."})
    api.patch(url(f"visitors/{visitor.pk}/"), {"attributes": {"seats": None, "vip": True}})
    body = api.get(url(f"visitors/{visitor.pk}/")).json()
    assert (body["name"], body["email"]) == ("Ann B.", "ann@example.com")
    assert body["attributes"] == {"plan": "pro", "vip": True}


def test_a_bad_visitor_update_changes_nothing(api: Api, visitor: Visitor) -> None:
    for data, code in [
        ({"email": "not an address"}, "invalid"),
        ({"name": "n" * 101}, "too_long"),
        ({"name": "Ann", "attributes": {f"k{i}": i for i in range(51)}}, "too_many"),
        ({"name": "Ann", "attributes": {"big": "x" * 5000}}, "too_large"),
        ({"attributes": {"list": [1]}}, "bad_value"),
    ]:
        response = api.patch(url(f"visitors/{visitor.pk}/"), data)
        assert response.status_code == 422, (data, response.content)
        assert response.json()["error"] == code
    visitor.refresh_from_db()
    assert (visitor.name, visitor.email, visitor.attributes) == ("", "", {})


def test_visitors_of_another_inbox_are_a_404(api: Api, other_inbox: Inbox) -> None:
    theirs = visitor_create(inbox=other_inbox)
    assert api.get(url(f"visitors/{theirs.pk}/")).status_code == 404
    assert api.patch(url(f"visitors/{theirs.pk}/"), {"name": "x"}).status_code == 404
    assert theirs.pk not in [v["id"] for v in api.get(url("visitors/")).json()["results"]]


def test_find_a_visitor_by_email_or_user_id(api: Api, inbox: Inbox) -> None:
    ann, bob = visitor_create(inbox=inbox), visitor_create(inbox=inbox)
    ann.email = "ann@example.com"  # a save: with encryption on, its look-up token too
    ann.save(update_fields=["email"])
    Visitor.objects.filter(pk=bob.pk).update(external_id="user-7")
    assert [
        v["id"] for v in api.get(url("visitors/"), {"email": "ann@example.com"}).json()["results"]
    ] == [ann.pk]
    assert [
        v["id"] for v in api.get(url("visitors/"), {"external_id": "user-7"}).json()["results"]
    ] == [bob.pk]
    assert {v["id"] for v in api.get(url("visitors/")).json()["results"]} == {ann.pk, bob.pk}


# --- Saved replies, agents ----------------------------------------------------------------------


def test_saved_replies_are_the_agents_own_and_their_inboxes(
    api: Api, agent: Agent, second_agent: Agent, inbox: Inbox, other_inbox: Inbox
) -> None:
    saved_reply_create(agent=agent, shortcut="mine", body="Mine")
    saved_reply_create(agent=second_agent, shortcut="bobs", body="Bob's")
    CannedResponse.objects.create(inbox=inbox, shortcut="shared", body="Shared")
    CannedResponse.objects.create(inbox=other_inbox, shortcut="theirs", body="Theirs")
    rows = api.get(url("saved-replies/")).json()
    assert [(r["shortcut"], r["personal"]) for r in rows] == [("mine", True), ("shared", False)]
    only = api.get(url("saved-replies/"), {"inbox": other_inbox.pk}).json()
    assert [r["shortcut"] for r in only] == ["mine"]


def test_agents_with_presence(
    api: Api, agent: Agent, second_agent: Agent, outsider_agent: Agent
) -> None:
    connect(second_agent)
    rows = api.get(url("agents/")).json()
    assert [(r["display_name"], r["presence"]) for r in rows] == [
        ("Alice", "offline"),
        ("Bob", "online"),
    ]
    assert api.get(url(f"agents/{second_agent.pk}/")).json()["presence"] == "online"
    assert api.get(url("agents/me/")).json()["id"] == agent.pk
    assert api.get(url(f"agents/{outsider_agent.pk}/")).status_code == 404
    assert api.get(url("agents/nobody/")).status_code == 404


def test_an_agent_sets_their_own_availability(api: Api, agent: Agent) -> None:
    connect(agent)
    response = api.post(url("agents/me/availability/"), {"availability": "away"})
    assert response.status_code == 200
    assert response.json()["presence"] == "away"
    agent.refresh_from_db()
    assert agent.availability == "away"
    assert api.post(url("agents/me/availability/"), {"availability": "gone"}).status_code == 400


# --- Authentication, scopes, errors -------------------------------------------------------------


def test_no_token_is_a_401_with_the_scheme(db: None) -> None:
    response = Client().get(url("conversations/"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize(
    "header", ["Bearer nonsense", "Bearer sd_0123456789ab_" + "x" * 43, "Bearer "]
)
def test_a_bad_token_is_a_401(db: None, header: str) -> None:
    response = Client(headers={"Authorization": header}).get(url("inboxes/"))
    assert response.status_code == 401
    assert response.json()["error"] == "bad_token"


def test_a_read_token_cannot_write(agent: Agent, visitor: Visitor) -> None:
    conversation = chat(visitor)
    reader = Api(token_for(agent, scopes=["read"]))
    assert reader.get(url(f"conversations/{conversation.pk}/")).status_code == 200
    response = reader.post(url(f"conversations/{conversation.pk}/messages/"), {"body": "hi"})
    assert response.status_code == 403
    assert response.json()["error"] == "scope"
    assert reader.post(url(f"conversations/{conversation.pk}/claim/")).status_code == 403
    assert conversation.messages.count() == 1


def test_a_write_only_token_cannot_read(agent: Agent) -> None:
    writer = Api(token_for(agent, scopes=["write"]))
    assert writer.get(url("inboxes/")).status_code == 403


def test_a_deactivated_agents_token_fails(agent: Agent, api: Api) -> None:
    agent.user.is_active = False
    agent.user.save(update_fields=["is_active"])
    assert api.get(url("inboxes/")).status_code == 401


def test_a_logged_in_agent_uses_the_api_with_the_csrf_check(agent: Agent, visitor: Visitor) -> None:
    conversation = chat(visitor)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent.user)
    assert client.get(url("conversations/")).status_code == 200
    response = client.post(
        url(f"conversations/{conversation.pk}/claim/"), content_type="application/json"
    )
    assert response.status_code == 403  # no CSRF token: a forged cross-site POST does nothing
    conversation.refresh_from_db()
    assert conversation.status == "waiting"


def test_a_logged_in_user_who_is_not_an_agent_is_refused(django_user_model) -> None:
    client = Client()
    client.force_login(django_user_model.objects.create_user("root", password="x"))
    response = client.get(url("inboxes/"))
    assert response.status_code == 403
    assert response.json()["error"] == "not_an_agent"


def test_json_only(api: Api, visitor: Visitor) -> None:
    conversation = chat(visitor)
    response = api.client.post(url(f"conversations/{conversation.pk}/messages/"), {"body": "hi"})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert api.client.put(url("inboxes/"), {}).status_code == 405


def test_schema_and_docs_are_served(db: None) -> None:
    schema = Client().get(url("schema/"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/conversations/{id}/messages/" in paths
    docs = Client().get(url("docs/"))
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert "script-src 'self';" in docs["Content-Security-Policy"]
    script = Client().get(url("docs/"), {"script": ""})
    assert script.status_code == 200
    assert b"/api/v1/schema/" in script.content


def test_a_token_acts_as_its_own_agent(agent: Agent, inbox: Inbox) -> None:
    other = make_agent(username="carol", display_name="Carol", inbox=inbox)
    assert Api(token_for(other)).get(url("agents/me/")).json()["display_name"] == "Carol"
