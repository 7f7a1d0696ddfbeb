"""The agent workspace's rules: presence, automatic assignment, transfer, notes, unread counts,
auto-end, search, saved replies, visitor context and the activity log."""

from __future__ import annotations

import importlib
import re
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents import presence
from agents.assignment import auto_assign
from agents.models import Activity, Agent, AgentConnection, CannedResponse
from agents.search import message_search
from agents.selectors import canned_responses, conversation_lists, unread_count
from agents.services import (
    AlreadyAssigned,
    agent_reply,
    conversation_claim,
    conversation_transfer,
    note_create,
    read_mark,
    saved_reply_create,
)
from chat.events import chat_message_event, for_visitor
from chat.models import Conversation, Inbox, Visitor
from chat.services import (
    ConversationEnded,
    conversation_end,
    visitor_create,
    visitor_message_send,
)
from chat.tokens import visitor_token
from chat.useragent import describe_user_agent
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


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


# ---- Presence -----------------------------------------------------------------------------


def close(channel: str, *, grace_over: bool = True) -> None:
    """A socket closes; with `grace_over`, its grace period has passed and it settles."""
    presence.connection_close(channel_name=channel)
    if grace_over:
        AgentConnection.objects.filter(channel_name=channel).update(
            last_seen_at=timezone.now() - timedelta(hours=1)
        )
        presence.presence_settle(channel_name=channel)


def presence_log(agent: Agent) -> list[str]:
    return list(
        Activity.objects.filter(actor=agent).order_by("pk").values_list("detail", flat=True)
    )


def test_presence_follows_the_sockets_and_counts_many_tabs_as_one(agent: Agent) -> None:
    assert presence.agent_presence(agent) == "offline"
    first, second = connect(agent), connect(agent)
    assert presence.agent_presence(agent) == "online"
    close(first)
    assert presence.agent_presence(agent) == "online"  # the other tab still counts
    close(second, grace_over=False)
    assert presence.agent_presence(agent) == "online"  # within the grace period
    close(second)
    assert presence.agent_presence(agent) == "offline"
    assert presence_log(agent) == ["connected", "offline"]  # one of each, not one per tab


def test_a_reload_within_the_grace_period_changes_nothing(agent: Agent) -> None:
    old = connect(agent)
    close(old, grace_over=False)
    connect(agent)  # the reloaded page
    close(old)  # the old tab's grace ends
    assert presence.agent_presence(agent) == "online"
    assert presence_log(agent) == ["connected"]


def test_an_agent_whose_server_stopped_during_the_grace_is_still_announced_offline(
    agent: Agent,
) -> None:
    channel = connect(agent)
    close(channel, grace_over=False)  # ... and the process dies before its settle task runs
    AgentConnection.objects.update(last_seen_at=timezone.now() - timedelta(hours=1))
    presence.presence_sweep()  # housekeeping in any other process
    assert presence_log(agent) == ["connected", "offline"]
    presence.presence_sweep()  # a second sweep (or a late settle) announces nothing more
    presence.presence_settle(channel_name=channel)
    assert presence_log(agent) == ["connected", "offline"]


def test_away_is_the_agents_choice_and_offline_wins_over_it(agent: Agent, inbox: Inbox) -> None:
    channel = connect(agent)
    assert presence.inbox_has_agent_online(inbox)
    agent = presence.availability_set(agent=agent, availability="away")
    assert presence.agent_presence(agent) == "away"
    assert not presence.inbox_has_agent_online(inbox)
    close(channel)
    assert presence.agent_presence(agent) == "offline"
    with pytest.raises(ValueError, match="unknown availability"):
        presence.availability_set(agent=agent, availability="asleep")


def test_a_tab_whose_server_died_stops_counting_and_is_swept(agent: Agent) -> None:
    connect(agent)
    stale = timezone.now() - timedelta(minutes=5)
    AgentConnection.objects.filter(agent=agent).update(last_seen_at=stale)
    assert presence.agent_presence(agent) == "offline"  # by derivation, before any sweep
    presence.presence_sweep()
    assert not AgentConnection.objects.filter(agent=agent).exists()


def test_the_process_keeps_its_tabs_alive_and_names_the_swept_ones(agent: Agent) -> None:
    channel = connect(agent)
    AgentConnection.objects.update(last_seen_at=timezone.now() - timedelta(minutes=5))
    assert presence.connections_seen(channel_names=[channel, "gone"]) == ["gone"]
    assert presence.agent_presence(agent) == "online"


# ---- Automatic assignment -----------------------------------------------------------------


@pytest.fixture
def auto_inbox(inbox: Inbox) -> Inbox:
    inbox.assignment = Inbox.Assignment.AUTO
    inbox.save()
    return inbox


def new_visitor(inbox: Inbox) -> Visitor:
    return visitor_create(inbox=inbox)


def test_auto_assignment_gives_the_least_busy_online_agent_and_round_robins_ties(
    auto_inbox: Inbox, agent: Agent, second_agent: Agent, django_capture_on_commit_callbacks
) -> None:
    connect(agent)
    connect(second_agent)
    owners = []
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            conversation = chat(new_visitor(auto_inbox))
        conversation.refresh_from_db()
        assert conversation.status == Conversation.Status.ACTIVE
        owners.append(conversation.assigned_agent.display_name)
    # Alternating: equal load, and the one assigned longest ago goes first.
    assert owners[0] != owners[1]
    assert owners[2] != owners[3]
    assert sorted(owners) == ["Alice", "Alice", "Bob", "Bob"]
    assert Activity.objects.filter(verb=Activity.Verb.ASSIGN).count() == 4


def test_when_nobody_is_free_chats_wait_and_the_oldest_goes_to_whoever_frees_up(
    auto_inbox: Inbox, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    agent.capacity = 1
    agent.save()
    connect(agent)
    with django_capture_on_commit_callbacks(execute=True):
        first = chat(new_visitor(auto_inbox))
        second = chat(new_visitor(auto_inbox))
        third = chat(new_visitor(auto_inbox))
    statuses = {c.pk: c.status for c in Conversation.objects.all()}
    assert statuses == {first.pk: "active", second.pk: "waiting", third.pk: "waiting"}
    with django_capture_on_commit_callbacks(execute=True):
        conversation_end(conversation=first, by=agent)
    second.refresh_from_db()
    third.refresh_from_db()
    assert (second.status, second.assigned_agent) == ("active", agent)  # the oldest first
    assert third.status == "waiting"


def test_an_agent_coming_online_takes_the_queue_and_an_away_one_does_not(
    auto_inbox: Inbox, agent: Agent, second_agent: Agent, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        queued = chat(new_visitor(auto_inbox))
    queued.refresh_from_db()
    assert queued.status == "waiting"  # nobody online
    connect(presence.availability_set(agent=second_agent, availability="away"))
    queued.refresh_from_db()
    assert queued.status == "waiting"
    with django_capture_on_commit_callbacks(execute=True):
        connect(agent)
    queued.refresh_from_db()
    assert queued.assigned_agent == agent


def test_a_manual_inbox_is_never_auto_assigned(
    inbox: Inbox, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    connect(agent)
    with django_capture_on_commit_callbacks(execute=True):
        conversation = chat(new_visitor(inbox))
    assert auto_assign(inbox_ids=[inbox.pk]) == []
    conversation.refresh_from_db()
    assert conversation.status == "waiting"


def test_assignment_respects_capacity_across_inboxes(
    auto_inbox: Inbox, other_inbox: Inbox, agent: Agent
) -> None:
    other_inbox.assignment = Inbox.Assignment.AUTO
    other_inbox.save()
    agent.inboxes.add(other_inbox)
    agent.capacity = 2
    agent.save()
    connect(agent)
    for box in (auto_inbox, other_inbox, auto_inbox, other_inbox):
        chat(new_visitor(box))
    auto_assign(inbox_ids=[auto_inbox.pk, other_inbox.pk])
    assert agent.assigned_conversations.filter(status="active").count() == 2
    assert Conversation.objects.filter(status="waiting").count() == 2


# ---- Transfer, notes, claims by admins --------------------------------------------------


def test_transfer_hands_over_with_a_note_only_agents_see(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    conversation_transfer(
        conversation=conversation, by=agent, to=second_agent, note="VIP, refund approved"
    )
    conversation.refresh_from_db()
    assert conversation.assigned_agent == second_agent
    lines = list(conversation.messages.order_by("seq").values_list("sender_kind", "body"))
    assert lines[-2:] == [
        ("system", "Alice transferred the chat to Bob."),
        ("note", "VIP, refund approved"),
    ]
    activity = Activity.objects.get(verb=Activity.Verb.TRANSFER)
    assert (activity.actor, activity.target_agent) == (agent, second_agent)
    with pytest.raises(AlreadyAssigned):
        conversation_transfer(conversation=conversation, by=agent, to=second_agent)


def test_transfer_only_to_an_agent_of_the_inbox_and_never_of_an_ended_chat(
    visitor: Visitor, agent: Agent, outsider_agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    with pytest.raises(PermissionDenied):
        conversation_transfer(conversation=conversation, by=agent, to=outsider_agent)
    with pytest.raises(PermissionDenied):
        conversation_transfer(conversation=conversation, by=outsider_agent, to=second_agent)
    conversation_end(conversation=conversation, by=agent)
    with pytest.raises(ConversationEnded):
        conversation_transfer(conversation=conversation, by=agent, to=second_agent)


def test_an_admin_sees_every_inbox_and_may_reassign(
    visitor: Visitor, agent: Agent, second_agent: Agent, admin_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    lists = conversation_lists(agent=admin_agent)
    assert [c["id"] for c in lists["active"]] == [conversation.pk]
    conversation_transfer(conversation=conversation, by=admin_agent, to=second_agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == second_agent
    response = logged_in(admin_agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert response.status_code == 200


def test_a_note_reaches_agents_but_the_visitor_gets_only_its_seq(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    note = note_create(
        conversation=conversation, agent=agent, body="card declined twice", client_id=uuid.uuid4()
    ).message
    event = chat_message_event(note)
    assert event["message"]["body"] == "card declined twice"
    assert event["message"]["author_name"] == "Alice"
    redacted = for_visitor(event)
    assert redacted["message"]["body"] == ""
    assert redacted["conversation"]["preview"] == ""
    assert redacted["message"]["seq"] == note.seq
    widget = Client().get(
        reverse("chat:widget_conversation", args=[visitor.inbox.public_key]),
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    html = widget.content.decode()
    assert "card declined" not in html
    assert f'id="msg-{conversation.pk}-{note.seq}"' in html  # the placeholder keeps the seq
    dashboard = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert "card declined twice" in dashboard.content.decode()
    assert Activity.objects.filter(verb=Activity.Verb.NOTE, actor=agent).count() == 1


def test_the_note_view_stores_a_note_idempotently(visitor: Visitor, agent: Agent) -> None:
    conversation = chat(visitor)
    client = logged_in(agent)
    data = {"body": "check the order id", "client_id": str(uuid.uuid4())}
    url = reverse("agents:note", args=[conversation.pk])
    assert client.post(url, data).status_code == 201
    assert client.post(url, data).status_code == 200
    assert conversation.messages.filter(sender_kind="note").count() == 1


def test_the_transfer_view_answers_with_the_new_header_or_a_clear_error(
    visitor: Visitor, agent: Agent, second_agent: Agent, outsider_agent: Agent
) -> None:
    conversation = chat(visitor)
    client = logged_in(agent)
    url = reverse("agents:transfer", args=[conversation.pk])
    stranger = client.post(url, {"to": outsider_agent.pk})
    assert stranger.status_code == 422  # not a colleague: the answer for no such agent
    assert "Mallory" not in stranger.content.decode()  # another company's agent stays unnamed
    agent.inboxes.add(outsider_agent.inboxes.get())  # colleagues now, in the other inbox
    refused = client.post(url, {"to": outsider_agent.pk})
    assert refused.status_code == 409
    assert "Mallory does not work in this inbox" in refused.content.decode()
    assert client.post(url, {"to": "nobody"}).status_code == 422
    done = client.post(url, {"to": second_agent.pk, "note": "over to you"})
    assert done.status_code == 200
    assert "Active · <bdi>Bob</bdi>" in done.content.decode()
    pane = client.get(reverse("agents:conversation", args=[conversation.pk])).content.decode()
    # Everyone of the inbox: the page leaves out the chat's agent and the viewer when the form
    # opens, as they are by then. Alice may take it back from Bob.
    assert f'<option value="{agent.pk}" data-agent="{agent.pk}" data-name="Alice"' in pane
    assert f'<option value="{second_agent.pk}" data-agent="{second_agent.pk}"' in pane


# ---- Unread counts ----------------------------------------------------------------------


def test_unread_counts_the_visitors_messages_after_the_agents_watermark(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor, "one")
    chat(visitor, "two")
    assert conversation_lists(agent=agent)["unread"] == {conversation.pk: 2}
    assert read_mark(agent=agent, conversation_id=conversation.pk, seq=1) == 1
    assert unread_count(agent=agent, conversation_id=conversation.pk)[0] == 1
    assert read_mark(agent=agent, conversation_id=conversation.pk, seq=99) == 2  # capped
    assert read_mark(agent=agent, conversation_id=conversation.pk, seq=0) == 2  # never back
    assert unread_count(agent=agent, conversation_id=conversation.pk)[0] == 0
    # Agents' own lines do not count, and each agent has their own watermark.
    conversation_claim(conversation=conversation, agent=agent)
    assert unread_count(agent=agent, conversation_id=conversation.pk)[0] == 0
    assert unread_count(agent=second_agent, conversation_id=conversation.pk)[0] == 2


# ---- Auto-end ---------------------------------------------------------------------------


def answered(visitor: Visitor, agent: Agent, *, minutes_ago: float) -> Conversation:
    """A chat the agent answered `minutes_ago`, the visitor silent since."""
    conversation = chat(visitor)
    agent_reply(
        conversation=conversation, agent=agent, body="Anything else?", client_id=uuid.uuid4()
    )
    then = timezone.now() - timedelta(minutes=minutes_ago)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_visitor_message_at=then - timedelta(minutes=1), last_agent_message_at=then
    )
    return conversation


def test_housekeeping_ends_chats_whose_visitor_went_quiet_after_an_answer(
    inbox: Inbox, visitor: Visitor, visitor_b: Visitor, agent: Agent
) -> None:
    inbox.auto_end_minutes = 30
    inbox.save()
    quiet = answered(visitor, agent, minutes_ago=31)
    lively = answered(visitor_b, agent, minutes_ago=29)
    call_command("housekeeping")
    quiet.refresh_from_db()
    lively.refresh_from_db()
    assert quiet.status == "ended"
    assert lively.status == "active"
    assert quiet.messages.order_by("-seq").first().body == (
        "This chat was closed after 30 minutes of inactivity."
    )
    assert Activity.objects.get(verb="end", conversation=quiet).detail == "inactivity"
    # The visitor writing again starts a new chat linked to the closed one.
    assert chat(visitor).previous == quiet


def test_auto_end_never_closes_on_a_visitor_who_is_waiting_for_us(
    inbox: Inbox, visitor: Visitor, visitor_b: Visitor, agent: Agent
) -> None:
    inbox.auto_end_minutes = 1
    inbox.save()
    queued = chat(visitor)  # in the queue: nobody has answered
    unanswered = chat(visitor_b)
    conversation_claim(conversation=unanswered, agent=agent)  # joined, but never wrote
    long_ago = timezone.now() - timedelta(days=3)
    Conversation.objects.update(last_visitor_message_at=long_ago, last_message_at=long_ago)
    call_command("housekeeping")
    assert set(Conversation.objects.values_list("status", flat=True)) == {"waiting", "active"}

    # The agent answered, then the visitor wrote again: the visitor has the last word.
    agent_reply(conversation=unanswered, agent=agent, body="On it", client_id=uuid.uuid4())
    visitor_message_send(visitor=visitor_b, body="Thanks, and?", client_id=uuid.uuid4())
    Conversation.objects.filter(pk=unanswered.pk).update(
        last_agent_message_at=long_ago, last_visitor_message_at=long_ago + timedelta(seconds=1)
    )
    call_command("housekeeping")
    unanswered.refresh_from_db()
    queued.refresh_from_db()
    assert (queued.status, unanswered.status) == ("waiting", "active")


def test_without_an_auto_end_setting_chats_stay_open(
    inbox: Inbox, visitor: Visitor, agent: Agent
) -> None:
    conversation = answered(visitor, agent, minutes_ago=3 * 24 * 60)
    call_command("housekeeping")
    conversation.refresh_from_db()
    assert conversation.status == "active"
    inbox.auto_end_minutes = 0  # 0 means off, not "end everything now"
    inbox.save()
    call_command("housekeeping")
    conversation.refresh_from_db()
    assert conversation.status == "active"


def test_the_inactivity_line_says_one_minute(inbox: Inbox, visitor: Visitor, agent: Agent) -> None:
    inbox.auto_end_minutes = 1
    inbox.save()
    conversation = answered(visitor, agent, minutes_ago=2)
    call_command("housekeeping")
    assert conversation.messages.order_by("-seq").first().body == (
        "This chat was closed after 1 minute of inactivity."
    )


def test_only_agent_messages_move_the_agents_clock_and_the_migration_fills_it_in(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)  # a system line
    note_create(conversation=conversation, agent=agent, body="vip", client_id=uuid.uuid4())
    conversation.refresh_from_db()
    assert conversation.last_agent_message_at is None
    first = agent_reply(conversation=conversation, agent=agent, body="Hi", client_id=uuid.uuid4())
    second = agent_reply(conversation=conversation, agent=agent, body="?", client_id=uuid.uuid4())
    chat(visitor, "Hello")
    conversation.refresh_from_db()
    assert conversation.last_agent_message_at == second.message.created_at
    assert conversation.first_response_at == first.message.created_at

    hello = conversation.messages.get(body="Hello")
    # As before the migration; and as before 0004, which left the visitor's time out.
    Conversation.objects.update(last_agent_message_at=None, last_visitor_message_at=None)
    migration = importlib.import_module("chat.migrations.0015_conversation_last_agent_message")
    migration.backfill(apps, connection.schema_editor())
    conversation.refresh_from_db()
    assert conversation.last_agent_message_at == second.message.created_at
    assert conversation.last_visitor_message_at == hello.created_at


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


def test_list_previews_show_what_was_written_not_system_lines_or_notes(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor, "Where is my parcel?")
    conversation_claim(conversation=conversation, agent=agent)  # "Alice joined the chat."
    note = note_create(
        conversation=conversation, agent=agent, body="check DHL", client_id=uuid.uuid4()
    ).message
    assert conversation_lists(agent=agent)["active"][0]["preview"] == "Where is my parcel?"
    assert chat_message_event(note)["conversation"]["preview"] == "Where is my parcel?"
    reply = agent_reply(
        conversation=conversation, agent=agent, body="On its way", client_id=uuid.uuid4()
    ).message
    assert chat_message_event(reply)["conversation"]["preview"] == "On its way"
    conversation_end(conversation=conversation, by=agent)  # "Alice ended the chat."
    assert conversation_lists(agent=agent)["ended"][0]["preview"] == "On its way"


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
        seqs = [int(seq) for seq in re.findall(r'<li id="msg-\d+-(\d+)"', html)]
        found = re.search(r'data-found-seq="(\d+)"', html)
        return seqs, found.group(1) if found else None

    assert pane() == (list(range(21, 61)), None)  # the newest 40
    assert pane(at="10") == (list(range(5, 61)), "10")  # 5 before the hit, all after
    assert pane(at="58") == (list(range(21, 61)), "58")  # already among the newest 40
    for nonsense in ("0", "61", "-3", "abc", "1e9"):
        assert pane(at=nonsense) == (list(range(21, 61)), None), nonsense


# ---- Search -----------------------------------------------------------------------------


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


# ---- Saved replies, visitor context -------------------------------------------------------


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


def test_the_widget_reports_where_the_visitor_is_and_agents_see_it(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    url = reverse("chat:widget_context", args=[visitor.inbox.public_key])
    headers = {"X-Visitor-Token": visitor_token(visitor)}
    ua = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    )
    first = {
        "current_url": "https://shop.example/pricing",
        "page_title": "Pricing",
        "referrer": "https://www.google.com/",
        "user_agent": ua,
        "timezone": "Europe/Berlin",
        "language": "de-DE",
        "unknown": "ignored",
    }
    assert Client().post(url, first, headers=headers).status_code == 204
    second = {"current_url": "https://shop.example/checkout" + "x" * 3000, "referrer": "later"}
    assert Client().post(url, second, headers=headers).status_code == 204
    visitor.refresh_from_db()
    assert visitor.current_url.startswith("https://shop.example/checkout")
    assert len(visitor.current_url) == 2000
    assert visitor.referrer == "https://www.google.com/"  # the first referrer is kept
    assert Client().post(url, first).status_code == 401  # no token, no write
    page = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    html = page.content.decode()
    assert "Chrome 131 on Windows" in html
    assert "Europe/Berlin" in html


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
            "Firefox 132 on Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Mobile Safari/537.36 EdgA/130.0.0.0",
            "Edge 130 on Android",
        ),
        ("", ""),
        ("curl/8.0", "Unknown browser"),
    ],
)
def test_user_agents_are_described_briefly(ua: str, expected: str) -> None:
    assert describe_user_agent(ua) == expected


# ---- Activity log -----------------------------------------------------------------------


def test_every_agent_action_is_in_the_activity_log_and_the_admin(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    client = Client()
    assert client.login(username="alice", password="correct horse battery staple")
    conversation = chat(visitor)
    client.post(reverse("agents:claim", args=[conversation.pk]))
    note = {"body": "refund approved", "client_id": str(uuid.uuid4())}
    assert client.post(reverse("agents:note", args=[conversation.pk]), note).status_code == 201
    client.post(reverse("agents:availability"), {"availability": "away"})
    client.post(
        reverse("agents:transfer", args=[conversation.pk]), {"to": second_agent.pk, "note": "hi"}
    )
    conversation_end(conversation=conversation, by=second_agent)
    client.post(reverse("logout"))
    verbs = list(Activity.objects.order_by("pk").values_list("actor__display_name", "verb"))
    assert verbs == [
        ("Alice", "login"),
        ("Alice", "claim"),
        ("Alice", "note"),
        ("Alice", "status"),
        ("Alice", "transfer"),
        ("Bob", "end"),
        ("Alice", "logout"),
    ]
    admin = make_agent(username="root", display_name="Root", inbox=visitor.inbox).user
    admin.is_staff = admin.is_superuser = True
    admin.save()
    staff = Client()
    staff.force_login(admin)
    page = staff.get(reverse("admin:agents_activity_changelist"))
    assert page.status_code == 200
    assert "transferred" in page.content.decode()


def test_the_status_menu_accepts_online_or_away_only(agent: Agent) -> None:
    client = logged_in(agent)
    url = reverse("agents:availability")
    assert client.post(url, {"availability": "asleep"}).status_code == 422
    assert client.post(url, {"availability": "away"}).status_code == 204
    agent.refresh_from_db()
    assert agent.availability == "away"


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "data:text/html,<script>1</script>", "//evil", "ftp://x"],
)
def test_a_page_address_that_is_not_a_web_link_is_never_stored(
    visitor: Visitor, agent: Agent, url: str
) -> None:
    """Agents click the visitor's page and referrer: only http(s) links get that far."""
    conversation = chat(visitor)
    Client().post(
        reverse("chat:widget_context", args=[visitor.inbox.public_key]),
        {"current_url": url, "referrer": url},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    visitor.refresh_from_db()
    assert visitor.current_url == ""
    assert visitor.referrer == ""
    page = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert url.split(":")[0] + ":" not in page.content.decode().split('class="context"')[1]


def test_a_chat_cannot_be_transferred_to_a_deactivated_agent(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    second_agent.user.is_active = False
    second_agent.user.save()
    response = logged_in(agent).post(
        reverse("agents:transfer", args=[conversation.pk]), {"to": second_agent.pk}
    )
    assert response.status_code == 422
    conversation.refresh_from_db()
    assert conversation.assigned_agent is None


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
