"""Calls (chat.calls, docs/CALLS.md): the record and its lines, and the signalling over the real
sockets (ASGI application, real Redis layer): only the call's two parties hear it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from agents.housekeeping import housekeeping
from agents.models import Activity, Agent
from agents.services import conversation_claim
from chat import calls
from chat.calls import CallRefused, call_answer, call_decline, call_hang_up, call_start
from chat.models import Call, Conversation, Inbox, Message, Visitor
from chat.privacy import visitor_export
from chat.services import conversation_end, visitor_message_send
from supportdesk.asyncdb import database
from tests.chat.test_consumers import agent_socket, connect_visitor

pytestmark = pytest.mark.django_db(transaction=True)


def active_chat(visitor: Visitor, agent: Agent, *, calls_on: bool = True) -> Conversation:
    Inbox.objects.filter(pk=visitor.inbox_id).update(calls_enabled=calls_on)
    sent = visitor_message_send(visitor=visitor, body="hello", client_id=uuid.uuid4())
    conversation = Conversation.objects.get(pk=sent.message.conversation_id)
    conversation_claim(agent=agent, conversation=conversation)
    return Conversation.objects.select_related("inbox").get(pk=conversation.pk)


def lines(conversation: Conversation) -> list[tuple[str, str]]:
    """The call lines: (what the agents read, what the visitor reads)."""
    found = Message.objects.filter(conversation=conversation, audience="agents").order_by("seq")
    return [(m.body, m.visitor_body) for m in found]


# ---- The record and its lines -------------------------------------------------------------------


def test_a_call_is_started_answered_and_hung_up_with_its_line_for_each_side(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = active_chat(visitor, agent)
    call = call_start(agent=agent, conversation=conversation, kind="video")
    assert call.status == "ringing"
    call_answer(visitor=visitor, call_id=call.pk)
    Call.objects.filter(pk=call.pk).update(answered_at=timezone.now() - timedelta(seconds=192))
    call_hang_up(agent=agent, call_id=call.pk)
    call.refresh_from_db()
    assert (call.status, call.ended_by, call.duration_seconds) == ("ended", "agent", 192)
    name = visitor.display_name
    assert lines(conversation) == [
        (
            "Video call, 3 min 12 s, ended by Alice.",
            "Video call, 3 min 12 s, ended by Alice.",
        )
    ]
    assert name  # the visitor has a name the agents' lines use (see the decline test)
    activity = Activity.objects.get(verb=Activity.Verb.CALL)
    assert (activity.actor_id, activity.detail) == (agent.pk, "video, 192 s, ended by agent")


def test_declined_missed_and_cancelled_calls_say_so(visitor: Visitor, agent: Agent) -> None:
    conversation = active_chat(visitor, agent)
    declined = call_start(agent=agent, conversation=conversation, kind="voice")
    call_decline(visitor=visitor, call_id=declined.pk)
    cancelled = call_start(agent=agent, conversation=conversation, kind="video")
    call_hang_up(agent=agent, call_id=cancelled.pk)
    missed = call_start(agent=agent, conversation=conversation, kind="voice")
    Call.objects.filter(pk=missed.pk).update(created_at=timezone.now() - timedelta(seconds=46))
    assert housekeeping()["calls_missed"] == 1
    name = visitor.display_name
    assert lines(conversation) == [
        (f"{name} declined the voice call.", "You declined the voice call."),
        (
            "Alice cancelled the video call before it was answered.",
            "Missed video call from Alice.",
        ),
        (f"Missed voice call: {name} did not answer.", "Missed voice call from Alice."),
    ]
    statuses = list(Call.objects.order_by("pk").values_list("status", "ended_by"))
    assert statuses == [("declined", "visitor"), ("ended", "agent"), ("missed", "desk")]


def test_an_answer_after_the_ring_time_finds_the_call_missed(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = active_chat(visitor, agent)
    call = call_start(agent=agent, conversation=conversation, kind="voice")
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(seconds=45))
    with pytest.raises(CallRefused) as refused:
        call_answer(visitor=visitor, call_id=call.pk)
    assert refused.value.code == "call_over"
    assert Call.objects.get().status == "missed"


def test_who_may_call_and_when(
    visitor: Visitor, visitor_b: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = active_chat(visitor, agent)
    for who, kind, code in [
        (second_agent, "video", "not_yours"),  # a colleague's chat
        (agent, "hologram", "bad_kind"),
    ]:
        with pytest.raises(CallRefused) as refused:
            call_start(agent=who, conversation=conversation, kind=kind)
        assert refused.value.code == code
    call = call_start(agent=agent, conversation=conversation, kind="voice")
    with pytest.raises(CallRefused) as refused:
        call_start(agent=agent, conversation=conversation, kind="video")
    assert refused.value.code == "call_in_progress"
    # Another visitor cannot answer, decline or hang up this visitor's call: the same answer
    # as for a call that does not exist.
    for action in (call_answer, call_decline):
        with pytest.raises(CallRefused) as refused:
            action(visitor=visitor_b, call_id=call.pk)
        assert refused.value.code == "call_over"
    with pytest.raises(CallRefused):
        call_hang_up(visitor=visitor_b, call_id=call.pk)
    with pytest.raises(CallRefused):
        call_hang_up(agent=second_agent, call_id=call.pk)
    assert Call.objects.get().status == "ringing"
    # Calls off for the inbox: refused.
    other = active_chat(visitor_b, agent, calls_on=False)
    with pytest.raises(CallRefused) as refused:
        call_start(agent=agent, conversation=other, kind="voice")
    assert refused.value.code == "calls_off"


def test_ending_the_chat_ends_its_call_first(visitor: Visitor, agent: Agent) -> None:
    conversation = active_chat(visitor, agent)
    call = call_start(agent=agent, conversation=conversation, kind="video")
    call_answer(visitor=visitor, call_id=call.pk)
    conversation_end(conversation=conversation, by=agent)
    call.refresh_from_db()
    assert (call.status, call.ended_by) == ("ended", "desk")
    bodies = list(
        Message.objects.filter(conversation=conversation, sender_kind="system")
        .order_by("seq")
        .values_list("body", flat=True)
    )
    assert bodies[-2].startswith("Video call, ")
    assert bodies[-2].endswith("ended with the chat.")
    assert bodies[-1] == "Alice ended the chat."


def test_turn_credentials_follow_the_turn_rest_scheme_and_expire(settings: Any) -> None:
    settings.SUPPORTDESK_STUN_URLS = ["stun:stun.example.com:3478"]
    settings.SUPPORTDESK_TURN_URLS = ["turn:turn.example.com:3478?transport=udp"]
    settings.SUPPORTDESK_TURN_SECRET = "coturn-static-auth-secret"
    settings.SUPPORTDESK_TURN_TTL_SECONDS = 600
    stun, turn = calls.ice_servers(user="visitor-7")
    assert stun == {"urls": ["stun:stun.example.com:3478"]}
    expiry, _, user = turn["username"].partition(":")
    assert user == "visitor-7"
    assert 590 <= int(expiry) - int(timezone.now().timestamp()) <= 600
    digest = hmac.new(b"coturn-static-auth-secret", turn["username"].encode(), hashlib.sha1)
    assert turn["credential"] == base64.b64encode(digest.digest()).decode()
    assert "coturn-static-auth-secret" not in str(turn)  # the secret never leaves the desk
    settings.SUPPORTDESK_TURN_URLS = []
    settings.SUPPORTDESK_STUN_URLS = []
    assert calls.ice_servers(user="visitor-7") == []


def test_only_descriptions_and_candidates_are_relayed() -> None:
    clean = calls.clean_signal(
        {
            "description": {"type": "offer", "sdp": "v=0", "extra": "<script>"},
            "candidates": [{"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0"}],
            "evil": {"x": 1},
        }
    )
    assert clean == {
        "description": {"type": "offer", "sdp": "v=0"},
        "candidates": [
            {
                "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": None,
                "usernameFragment": None,
            }
        ],
    }
    for bad in [None, [], {"description": {"type": "drop table"}}, {"candidates": [1]}, {}]:
        assert calls.clean_signal(bad) is None


def test_a_visitors_export_lists_their_calls_and_erasure_removes_them(
    visitor: Visitor, agent: Agent
) -> None:
    from chat.privacy import visitor_delete

    conversation = active_chat(visitor, agent)
    call = call_start(agent=agent, conversation=conversation, kind="voice")
    call_decline(visitor=visitor, call_id=call.pk)
    exported = visitor_export(visitor=visitor)
    [row] = exported["conversations"][0]["calls"]
    assert (row["kind"], row["status"], row["ended_by"]) == ("voice", "declined", "visitor")
    visitor_delete(visitor=visitor)
    assert not Call.objects.exists()


# ---- Signalling over the sockets ---------------------------------------------------------------


async def close_all(*communicators: WebsocketCommunicator) -> None:
    for communicator in communicators:
        await communicator.disconnect()


async def frame_of(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    """The next frame of `kind`, skipping the socket's others (lists, presence, messages)."""
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame["type"] == kind:
            return frame


async def test_signalling_goes_between_the_two_parties_and_nobody_else(
    visitor: Visitor, visitor_b: Visitor, agent: Agent, second_agent: Agent
) -> None:
    conversation = await database(active_chat)(visitor, agent)
    # Visitor B's chat is Bob's, in the same inbox: B and Bob are a third party to this call.
    await database(active_chat)(visitor_b, second_agent)
    alice = await agent_socket(agent)
    bob = await agent_socket(second_agent)
    caller = await connect_visitor(visitor)
    stranger = await connect_visitor(visitor_b)

    await alice.send_json_to(
        {"type": "call.start", "conversation": conversation.pk, "kind": "video"}
    )
    ringing = await frame_of(caller, "call")
    call_id = ringing["call"]["id"]
    assert ringing["call"]["status"] == "ringing"
    assert ringing["call"]["agent_name"] == "Alice"
    assert (await frame_of(alice, "call"))["call"]["status"] == "ringing"
    await caller.send_json_to({"type": "call.accept", "call": call_id})
    assert (await frame_of(alice, "call"))["call"]["status"] == "active"

    offer = {"description": {"type": "offer", "sdp": "v=0 alice"}}
    await alice.send_json_to({"type": "call.signal", "call": call_id, "signal": offer})
    assert await frame_of(caller, "call.signal") == {
        "type": "call.signal",
        "call": call_id,
        "signal": offer,
    }
    answer = {"description": {"type": "answer", "sdp": "v=0 visitor"}}
    await caller.send_json_to({"type": "call.signal", "call": call_id, "signal": answer})
    assert (await frame_of(alice, "call.signal"))["signal"] == answer

    # A third party with the call's id: refused, and nothing reaches either party.
    forged = {"description": {"type": "offer", "sdp": "v=0 mallory"}}
    for outsider in (stranger, bob):
        await outsider.send_json_to({"type": "call.signal", "call": call_id, "signal": forged})
        refused = await frame_of(outsider, "error")
        assert (refused["code"], refused["call"]) == ("call_over", call_id)
    # Nor may they act on it: the stranger's hang-up and Bob's are refused too.
    await stranger.send_json_to({"type": "call.hangup", "call": call_id})
    assert (await frame_of(stranger, "error"))["code"] == "call_over"
    await bob.send_json_to({"type": "call.hangup", "call": call_id})
    assert (await frame_of(bob, "error"))["code"] == "call_over"
    # A visitor may not start a call; an agent may not answer one.
    await caller.send_json_to(
        {"type": "call.start", "conversation": conversation.pk, "kind": "voice"}
    )
    assert (await frame_of(caller, "error"))["code"] == "unknown_type"
    await alice.send_json_to({"type": "call.accept", "call": call_id})
    assert (await frame_of(alice, "error"))["code"] == "unknown_type"

    # The parties' next signal arrives, and is the first thing after the refusals: no forged
    # frame was queued for them.
    candidate = {"candidates": [{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}]}
    await caller.send_json_to({"type": "call.signal", "call": call_id, "signal": candidate})
    relayed = await frame_of(alice, "call.signal")
    assert relayed["signal"]["candidates"][0]["candidate"].startswith("candidate:1")
    await alice.send_json_to({"type": "call.hangup", "call": call_id})
    ended = await frame_of(caller, "call")
    assert (ended["call"]["status"], ended["call"]["ended_by"]) == ("ended", "agent")
    # Over: its id signals nothing any more, for the parties either.
    await caller.send_json_to({"type": "call.signal", "call": call_id, "signal": candidate})
    assert (await frame_of(caller, "error"))["code"] == "call_over"
    await close_all(alice, bob, caller, stranger)


async def test_a_socket_that_comes_back_mid_call_is_told_the_call_and_asked_sync(
    visitor: Visitor, agent: Agent
) -> None:
    conversation = await database(active_chat)(visitor, agent)
    call = await database(call_start)(agent=agent, conversation=conversation, kind="voice")
    await database(call_answer)(visitor=visitor, call_id=call.pk)
    caller = await connect_visitor(visitor)  # a reload, or a reconnect
    told = await frame_of(caller, "calls")
    assert [c["id"] for c in told["calls"]] == [call.pk]
    assert "ice_servers" in told
    await database(call_hang_up)(agent=agent, call_id=call.pk)
    assert (await frame_of(caller, "call"))["call"]["status"] == "ended"
    await caller.send_json_to({"type": "call.sync"})
    assert (await frame_of(caller, "calls"))["calls"] == []
    await close_all(caller)


async def test_a_large_offer_fits_but_a_huge_one_is_refused(visitor: Visitor, agent: Agent) -> None:
    conversation = await database(active_chat)(visitor, agent)
    alice = await agent_socket(agent)
    caller = await connect_visitor(visitor)
    await alice.send_json_to(
        {"type": "call.start", "conversation": conversation.pk, "kind": "video"}
    )
    call_id = (await frame_of(caller, "call"))["call"]["id"]
    await caller.send_json_to({"type": "call.accept", "call": call_id})
    sdp = "a=x\r\n" * 2000  # 10 KB: an offer with audio, video and a screen runs about so
    await alice.send_json_to(
        {
            "type": "call.signal",
            "call": call_id,
            "signal": {"description": {"type": "offer", "sdp": sdp}},
        }
    )
    assert (await frame_of(caller, "call.signal"))["signal"]["description"]["sdp"] == sdp
    huge = "a=x\r\n" * 10000  # 50 KB
    await alice.send_json_to(
        {
            "type": "call.signal",
            "call": call_id,
            "signal": {"description": {"type": "offer", "sdp": huge}},
        }
    )
    assert (await frame_of(alice, "error"))["code"] == "bad_frame"
    await close_all(alice, caller)


def test_the_admin_switches_calls_on_says_how_they_connect_and_lists_them(
    client: Any, settings: Any, visitor: Visitor, agent: Agent
) -> None:
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    conversation = active_chat(visitor, agent)
    call_decline(
        visitor=visitor, call_id=call_start(agent=agent, conversation=conversation, kind="voice").pk
    )
    admin = get_user_model().objects.create_superuser("root", password="x", email="")
    client.force_login(admin)
    inbox_page = reverse("admin:chat_inbox_change", args=[visitor.inbox_id])
    settings.SUPPORTDESK_STUN_URLS = []
    settings.SUPPORTDESK_TURN_URLS = []
    page = client.get(inbox_page).content.decode()
    assert 'name="calls_enabled"' in page
    assert "No STUN or TURN server is configured" in page
    settings.SUPPORTDESK_STUN_URLS = ["stun:stun.example.com"]
    assert "No TURN server is configured" in client.get(inbox_page).content.decode()
    settings.SUPPORTDESK_TURN_URLS = ["turn:turn.example.com"]
    settings.SUPPORTDESK_TURN_SECRET = "s"
    settings.SUPPORTDESK_TURN_TTL_SECONDS = 3600
    assert "valid for 60 minutes" in client.get(inbox_page).content.decode()
    listing = client.get(reverse("admin:chat_call_changelist")).content.decode()
    assert "declined" in listing.lower()
    call = Call.objects.get()
    assert client.get(reverse("admin:chat_call_change", args=[call.pk])).status_code == 200
    assert client.get(reverse("admin:chat_call_add")).status_code == 403  # a record, not a form


def test_calls_are_off_by_default_and_show_nowhere_until_switched_on(
    client: Any, visitor: Visitor, agent: Agent
) -> None:
    from django.urls import reverse

    conversation = active_chat(visitor, agent, calls_on=False)
    assert not Inbox().calls_enabled  # a new inbox: off
    widget = reverse("chat:widget_page", args=[visitor.inbox.public_key])
    client.force_login(agent.user)
    pane = reverse("agents:conversation", args=[conversation.pk])
    assert 'id="call-panel"' not in client.get(widget).content.decode()
    assert (
        "data-call-actions" not in client.get(pane, headers={"HX-Request": "true"}).content.decode()
    )
    Inbox.objects.filter(pk=visitor.inbox_id).update(calls_enabled=True)
    assert 'id="call-panel"' in client.get(widget).content.decode()
    shown = client.get(pane, headers={"HX-Request": "true"}).content.decode()
    assert "data-call-actions" in shown
    assert 'data-call-start="video"' in shown
