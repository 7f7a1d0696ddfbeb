"""Triage on the dashboard (agents.triage, the lists, the pane): friendly names, wait times and
their thresholds, reopening an ended chat, snoozing, the read-only pane of someone else's
chat, and the collision warnings ("Alice is viewing", "Alice is typing a reply")."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.housekeeping import housekeeping
from agents.models import Agent
from agents.selectors import conversation_lists
from agents.services import agent_reply, conversation_claim, conversation_transfer
from agents.triage import (
    NotEnded,
    VisitorHasNewChat,
    conversation_reopen,
    conversation_snooze,
    conversation_unsnooze,
    conversations_wake,
    snooze_until,
)
from chat.faces import face_colour, initials
from chat.models import Conversation, Inbox, Message, Visitor, friendly_name
from chat.posting import agent_reply_post
from chat.services import conversation_end, visitor_message_send
from tests.agents.helpers import chat, logged_in, new_visitor
from tests.conftest import published_messages

pytestmark = pytest.mark.django_db


# ---- Names and avatars -----------------------------------------------------------------------


def test_an_anonymous_visitor_has_a_stable_friendly_name_never_a_number(inbox: Inbox) -> None:
    visitors = [new_visitor(inbox) for _ in range(30)]
    names = [v.display_name for v in visitors]
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", n) for n in names), names
    assert len(set(names)) == len(names)  # neighbours get different names
    assert not any(str(v.pk) in n or "#" in n for v, n in zip(visitors, names, strict=True))
    again = Visitor.objects.get(pk=visitors[0].pk)
    assert again.display_name == names[0] == friendly_name(visitors[0].pk)
    # 2,304 names before one repeats.
    assert len({friendly_name(pk) for pk in range(1, 2305)}) == 2304


def test_a_known_name_or_email_comes_before_the_friendly_name(inbox: Inbox) -> None:
    visitor = new_visitor(inbox)
    visitor.email = "ada@example.com"
    assert visitor.display_name == "ada@example.com"
    visitor.name = "Ada Lovelace"
    assert visitor.display_name == "Ada Lovelace"


def test_the_dashboard_shows_friendly_names_and_avatars(
    visitor: Visitor, agent: Agent, inbox: Inbox
) -> None:
    conversation = chat(visitor)
    page = logged_in(agent).get(reverse("agents:dashboard")).content.decode()
    name = visitor.display_name
    assert "Visitor #" not in page
    row = _row(page, conversation.pk)
    assert name in row
    # The desk's faces (chat.faces): initials on the name's colour.
    assert f'<span class="face face--md face--c{face_colour(name)}" aria-hidden="true">' in row
    assert f">{initials(name)}</span>" in row


# ---- Wait times --------------------------------------------------------------------------------


def test_the_wait_runs_from_the_start_in_the_queue_and_from_the_unanswered_message_after(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = chat(visitor)
    lists = conversation_lists(agent=agent)
    (row,) = lists["waiting"]
    assert row["waiting_since"] == conversation.created_at.isoformat()
    conversation_claim(conversation=conversation, agent=agent)
    (row,) = conversation_lists(agent=agent)["active"]
    conversation.refresh_from_db()
    assert row["waiting_since"] == conversation.last_visitor_message_at.isoformat()
    # The agent answers: nobody waits (the fast path's event says so too).
    posted = agent_reply_post(
        agent=agent, conversation_id=conversation.pk, body="Hi!", client_id=uuid.uuid4()
    )
    assert posted is not None
    assert conversation_lists(agent=agent)["active"][0]["waiting_since"] is None
    # The visitor writes again: waiting since that message.
    visitor_message_send(visitor=visitor, body="Still there?", client_id=uuid.uuid4())
    conversation.refresh_from_db()
    (row,) = conversation_lists(agent=agent)["active"]
    assert row["waiting_since"] == conversation.last_visitor_message_at.isoformat()


def test_the_fast_paths_event_carries_the_wait(
    visitor: Visitor, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        agent_reply_post(
            agent=agent, conversation_id=conversation.pk, body="Hi", client_id=uuid.uuid4()
        )
    (event,) = published_messages(callbacks)
    assert event["conversation"]["waiting_since"] is None
    assert event["conversation"]["labels"] == []
    assert event["conversation"]["snoozed_until"] is None


def test_rows_carry_the_wait_and_the_page_the_inboxes_thresholds(
    visitor: Visitor, agent: Agent, inbox: Inbox
) -> None:
    inbox.wait_warn_minutes, inbox.wait_alert_minutes = 1, 3
    inbox.save()
    conversation = chat(visitor)
    page = logged_in(agent).get(reverse("agents:dashboard")).content.decode()
    row = _row(page, conversation.pk)
    epoch_ms = int(conversation.created_at.timestamp() * 1000)
    assert f'data-waiting-since="{epoch_ms}"' in row
    assert f'data-inbox="{inbox.pk}"' in row
    assert 'class="row__wait"' in row
    script = re.search(r'<script id="wait-thresholds" type="application/json">(.*?)</script>', page)
    assert script is not None
    assert json.loads(script.group(1)) == {str(inbox.pk): [60000, 180000]}


def test_thresholds_are_at_least_a_minute(inbox: Inbox) -> None:
    from django.core.exceptions import ValidationError

    inbox.wait_warn_minutes = 0
    with pytest.raises(ValidationError):
        inbox.full_clean()


# ---- Reopen ------------------------------------------------------------------------------------


def test_reopen_gives_the_chat_back_to_its_agent_live_on_both_sides(
    visitor: Visitor, agent: Agent, second_agent: Agent, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    conversation_end(conversation=conversation, by=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        conversation_reopen(conversation=conversation, by=second_agent)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent, conversation.ended_at) == (
        "active",
        agent,
        None,
    )
    (event,) = published_messages(callbacks)
    assert event["conversation"]["status"] == "active"
    assert event["message"]["body"] == "Bob reopened the chat."
    assert "visitor_body" not in event["message"]  # the visitor sees it too
    # The visitor's next message goes to the reopened chat, not a new one.
    sent = visitor_message_send(visitor=visitor, body="Thanks!", client_id=uuid.uuid4())
    assert sent.message.conversation_id == conversation.pk


def test_reopen_to_the_queue_and_the_refusals(
    visitor: Visitor, agent: Agent, outsider_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    with pytest.raises(NotEnded):
        conversation_reopen(conversation=conversation, by=agent)
    conversation_end(conversation=conversation, by=agent)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        conversation_reopen(conversation=conversation, by=outsider_agent)
    conversation_reopen(conversation=conversation, by=agent, to_queue=True)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == ("waiting", None)
    assert [c["id"] for c in conversation_lists(agent=agent)["waiting"]] == [conversation.pk]
    # Ended again, and the visitor starts a new chat: the old one cannot be reopened.
    conversation_end(conversation=conversation, by=agent)
    newer = chat(visitor, "Another question")
    assert newer.pk != conversation.pk
    with pytest.raises(VisitorHasNewChat):
        conversation_reopen(conversation=conversation, by=agent)
    conversation.refresh_from_db()
    assert conversation.status == "ended"


def test_a_rolled_back_reopen_publishes_nothing(
    visitor: Visitor, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    conversation_end(conversation=conversation, by=agent)

    def reopen_then_fail() -> None:
        with transaction.atomic():
            conversation_reopen(conversation=conversation, by=agent)
            raise RuntimeError

    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
    ):
        reopen_then_fail()
    assert published_messages(callbacks) == []
    conversation.refresh_from_db()
    assert conversation.status == "ended"


def test_the_reopen_view_answers_with_the_header_and_refuses_strangers(
    visitor: Visitor, agent: Agent, outsider_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    conversation_end(conversation=conversation, by=agent)
    url = reverse("agents:reopen", args=[conversation.pk])
    assert logged_in(outsider_agent).post(url).status_code == 404
    assert logged_in(agent).post(reverse("agents:reopen", args=[999999])).status_code == 404
    page = logged_in(agent).get(reverse("agents:conversation", args=[conversation.pk]))
    assert 'data-action="reopen"' in page.content.decode()
    response = logged_in(agent).post(url, {"to": "queue"})
    assert response.status_code == 200
    assert 'data-status="waiting"' in response.content.decode()
    again = logged_in(agent).post(url)
    assert again.status_code == 409
    assert "open already" in again.content.decode()


# ---- Read-only after a transfer away -------------------------------------------------------------


def test_someone_elses_chat_opens_read_only_without_transfer_or_end(
    visitor: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    conversation_transfer(conversation=conversation, by=agent, to=second_agent)
    url = reverse("agents:conversation", args=[conversation.pk])
    mine = logged_in(second_agent).get(url).content.decode()
    header = _header(mine, conversation.pk)
    assert 'data-action="transfer"' in header
    assert 'data-action="end"' in header
    assert "data-readonly-reason" not in header
    theirs = _header(logged_in(agent).get(url).content.decode(), conversation.pk)
    assert 'data-action="transfer"' not in theirs
    assert 'data-action="end"' not in theirs
    assert "data-readonly-reason" in theirs
    assert "has this chat: only they can reply" in theirs
    assert "Bob" in theirs


# ---- Snooze ------------------------------------------------------------------------------------


def test_a_snoozed_chat_leaves_the_lists_until_the_visitor_writes(
    visitor: Visitor, agent: Agent, django_capture_on_commit_callbacks
) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        conversation_snooze(conversation=conversation, by=agent, until=None)
    (event,) = published_messages(callbacks)
    assert event["conversation"]["snoozed_until"] == ""
    assert event["message"]["visitor_body"] == ""  # a line for the agents alone
    assert "snoozed the chat until the visitor writes" in event["message"]["body"]
    lists = conversation_lists(agent=agent)
    assert lists["active"] == []
    assert [c["id"] for c in lists["snoozed"]] == [conversation.pk]
    page = logged_in(agent).get(reverse("agents:dashboard")).content.decode()
    assert 'data-container="list-snoozed"' in _row(page, conversation.pk)
    # The visitor writes (the fast path): back in Active, and the event says so.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        visitor_message_send(visitor=visitor, body="Any news?", client_id=uuid.uuid4())
    assert published_messages(callbacks)[-1]["conversation"]["snoozed_until"] is None
    lists = conversation_lists(agent=agent)
    assert [c["id"] for c in lists["active"]] == [conversation.pk]
    assert lists["snoozed"] == []


def test_the_widget_fast_path_wakes_a_snoozed_chat(
    visitor: Visitor, agent: Agent, inbox: Inbox
) -> None:
    from chat.tokens import visitor_token

    conversation = chat(visitor)
    conversation_snooze(conversation=conversation, by=agent, until=None)
    response = Client().post(
        reverse("chat:widget_send", args=[inbox.public_key]),
        {"body": "hello again", "client_id": str(uuid.uuid4())},
        headers={"X-Visitor-Token": visitor_token(visitor)},
    )
    assert response.status_code in (200, 201), response.content
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    assert [c["id"] for c in conversation_lists(agent=agent)["waiting"]] == [conversation.pk]


def test_a_snooze_ends_when_its_time_comes(visitor: Visitor, agent: Agent) -> None:
    conversation = chat(visitor)
    conversation_snooze(
        conversation=conversation, by=agent, until=timezone.now() + timedelta(hours=1)
    )
    assert conversations_wake() == 0
    Conversation.objects.filter(pk=conversation.pk).update(
        snoozed_until=timezone.now() - timedelta(seconds=1)
    )
    assert housekeeping()["woken"] == 1
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    last = conversation.messages.order_by("-seq").first()
    assert last is not None
    assert (last.body, last.audience) == ("The snooze ended.", Message.Audience.AGENTS)
    assert [c["id"] for c in conversation_lists(agent=agent)["waiting"]] == [conversation.pk]
    assert conversations_wake() == 0


def test_snooze_refusals_and_waking_by_hand(visitor: Visitor, agent: Agent) -> None:
    conversation = chat(visitor)
    assert snooze_until("reply") is None
    with pytest.raises(ValueError, match="7"):
        snooze_until("7")
    url = reverse("agents:snooze", args=[conversation.pk])
    assert logged_in(agent).post(url, {"for": "never"}).status_code == 422
    response = logged_in(agent).post(url, {"for": "60"})
    assert response.status_code == 200
    assert "Snoozed until" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.snoozed_until is not None
    wake = logged_in(agent).post(reverse("agents:unsnooze", args=[conversation.pk]))
    assert wake.status_code == 200
    assert 'data-action="snooze"' in wake.content.decode()
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    conversation_unsnooze(conversation=conversation, by=agent)  # not snoozed: nothing
    assert sum("woke" in m.body for m in conversation.messages.all()) == 1  # encrypted: in Python
    conversation_end(conversation=conversation, by=agent)
    assert logged_in(agent).post(url, {"for": "reply"}).status_code == 409


def test_ending_a_snoozed_chat_ends_the_snooze(visitor: Visitor, agent: Agent) -> None:
    conversation = chat(visitor)
    conversation_snooze(conversation=conversation, by=agent, until=None)
    conversation_end(conversation=conversation, by=agent)
    conversation.refresh_from_db()
    assert conversation.snoozed_at is None
    assert [c["id"] for c in conversation_lists(agent=agent)["ended"]] == [conversation.pk]


def test_an_agent_reply_keeps_a_snooze(visitor: Visitor, agent: Agent) -> None:
    conversation = chat(visitor)
    conversation_claim(conversation=conversation, agent=agent)
    conversation_snooze(conversation=conversation, by=agent, until=None)
    agent_reply(conversation=conversation, agent=agent, body="Checking", client_id=uuid.uuid4())
    assert conversation_lists(agent=agent)["snoozed"][0]["id"] == conversation.pk


# ---- helpers -----------------------------------------------------------------------------------


def _row(page: str, conversation_id: int) -> str:
    found = re.search(rf'<li id="conv-row-{conversation_id}".*?</li>', page, re.S)
    assert found is not None, page
    return found.group(0)


def _header(page: str, conversation_id: int) -> str:
    found = re.search(
        rf'<header class="pane__header" id="pane-header-{conversation_id}".*?</header>', page, re.S
    )
    assert found is not None
    return found.group(0)


# ---- Sockets: collision, and the pane after a transfer away ---------------------------------


@pytest.mark.django_db(transaction=True)
async def test_two_agents_on_one_chat_see_each_other_viewing_and_typing_and_leaving(
    agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    from tests.agents.test_consumers import following_agent, raw_frames_until
    from tests.chat.test_consumers import send

    message = await send(visitor, "hello")
    conversation_id = message.conversation_id
    alice = await following_agent(agent, conversation_id, 1)
    bob = await following_agent(second_agent, conversation_id, 1)
    seen = await raw_frames_until(alice, lambda f: "is viewing" in f.get("html", ""))
    assert "<bdi>Bob</bdi> is viewing" in seen["html"]
    assert f'id="viewer-{conversation_id}-{second_agent.pk}"' in seen["html"]
    assert f'data-container="collision-{conversation_id}"' in seen["html"]
    assert " hidden" not in seen["html"]
    seen = await raw_frames_until(bob, lambda f: "is viewing" in f.get("html", ""))
    assert "<bdi>Alice</bdi> is viewing" in seen["html"]  # Alice answered Bob's arrival
    # Bob types a reply: Alice is warned; nothing goes back and forth again.
    await bob.send_json_to({"type": "typing", "conversation": conversation_id})
    typing = await raw_frames_until(alice, lambda f: "typing a reply" in f.get("html", ""))
    assert f'id="typer-{conversation_id}-{second_agent.pk}"' in typing["html"]
    # Bob opens another chat (none): Alice sees him leave.
    await bob.send_json_to({"type": "resume", "conversation": None, "after": 0})
    left = await raw_frames_until(
        alice, lambda f: f'id="viewer-{conversation_id}-{second_agent.pk}"' in f.get("html", "")
    )
    assert " hidden" in left["html"]
    # Bob comes back, then his socket closes: gone again.
    await bob.send_json_to({"type": "resume", "conversation": conversation_id, "after": 1})
    back = await raw_frames_until(
        alice, lambda f: f'id="viewer-{conversation_id}-{second_agent.pk}"' in f.get("html", "")
    )
    assert " hidden" not in back["html"]
    await bob.disconnect()
    gone = await raw_frames_until(
        alice, lambda f: f'id="viewer-{conversation_id}-{second_agent.pk}"' in f.get("html", "")
    )
    assert " hidden" in gone["html"]
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_agent_not_on_the_chat_hears_nothing_of_its_viewers(
    agent: Agent, second_agent: Agent, visitor: Visitor, visitor_b: Visitor
) -> None:
    from tests.agents.test_consumers import following_agent
    from tests.chat.test_consumers import send

    first = await send(visitor, "hello")
    other = await send(visitor_b, "hi")
    alice = await following_agent(agent, first.conversation_id, 1)
    await following_agent(second_agent, other.conversation_id, 1)
    assert await alice.receive_nothing(timeout=0.5)


@pytest.mark.django_db(transaction=True)
async def test_a_transfer_away_makes_the_old_agents_pane_read_only_at_once(
    agent: Agent, second_agent: Agent, visitor: Visitor
) -> None:
    from channels.db import database_sync_to_async

    from tests.agents.test_consumers import following_agent, raw_frames_until
    from tests.chat.test_consumers import send

    message = await send(visitor, "hello")
    conversation = await database_sync_to_async(Conversation.objects.get)(
        pk=message.conversation_id
    )
    await database_sync_to_async(conversation_claim)(conversation=conversation, agent=agent)
    alice = await following_agent(agent, conversation.pk, 2)
    await database_sync_to_async(conversation_transfer)(
        conversation=conversation, by=agent, to=second_agent
    )
    frame = await raw_frames_until(alice, lambda f: "pane-header-" in f.get("html", ""))
    header = frame["html"][frame["html"].index('<header class="pane__header"') :]
    assert "data-readonly-reason" in header
    assert 'data-action="transfer"' not in header
    assert 'data-action="end"' not in header
    await alice.disconnect()
