"""Voice and video calls (issue 21, docs/CALLS.md) between two real Chromium pages on localhost:
the agent's dashboard and the visitor's widget, with Chromium's fake camera and microphone. The
media is real WebRTC (ICE, DTLS, RTP), browser to browser; the desk relays the signalling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, FrameLocator, Locator, Page, expect

from agents.models import Activity, Agent
from chat.models import Call, Inbox, Message
from tests.browser.conftest import Desk
from tests.browser.pages import (
    bubbles,
    reply_as_agent,
    screenshot,
    visitor_writes_and_alice_opens,
    widget_frame,
)
from tests.browser.test_accessibility import violations

pytestmark = [pytest.mark.browser, pytest.mark.fake_media, pytest.mark.django_db(transaction=True)]

CONNECTED = re.compile("connected|completed")


def chat_with_calls(browser: Browser, url: str, inbox: Inbox) -> tuple[Page, FrameLocator, Page]:
    """Calls on for the inbox; a visitor writes; Alice claims the chat and answers."""
    Inbox.objects.filter(pk=inbox.pk).update(calls_enabled=True)
    visitor, chat, alice = visitor_writes_and_alice_opens(browser, url, "Can you show me?")
    alice.get_by_role("button", name="Claim").click()
    reply_as_agent(alice, "Sure, let me call you")
    expect(chat.get_by_role("log")).to_contain_text("Sure, let me call you")
    return visitor, chat, alice


def receiving(panel: Locator, *, video: bool) -> None:
    """The panel's connection is up and media arrives: audio bytes (and video frames) grow."""
    expect(panel).to_have_attribute("data-ice-state", CONNECTED, timeout=20_000)
    expect(panel).to_have_attribute("data-audio-bytes", re.compile(r"^[1-9]\d*$"))
    if video:
        expect(panel).to_have_attribute("data-frames-received", re.compile(r"^[1-9]\d*$"))


def grows(panel: Locator, attribute: str) -> None:
    """`attribute` (a counter the panel updates every 2 s) is larger a little later."""
    before = int(panel.get_attribute(attribute) or 0)
    expect(panel).not_to_have_attribute(attribute, str(before), timeout=10_000)
    assert int(panel.get_attribute(attribute) or 0) > before


def test_an_agent_video_calls_the_visitor_who_answers_then_hangs_up(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = chat_with_calls(browser, desk.url, inbox)
    alice.get_by_role("button", name="Video call").click()
    agent_panel = alice.locator("#call-panel")
    expect(agent_panel).to_have_attribute("data-state", "calling")

    visitor_panel = chat.locator("#call-panel")
    expect(visitor_panel.get_by_role("status")).to_have_text("Alice is calling you (video)")
    screenshot(visitor, "call-incoming")
    assert violations(widget_frame(visitor), "the widget, ringing") == []
    visitor_panel.get_by_role("button", name="Accept").click()

    receiving(visitor_panel, video=True)
    receiving(agent_panel, video=True)
    grows(visitor_panel, "data-frames-received")
    grows(agent_panel, "data-audio-bytes")
    expect(agent_panel.get_by_role("status")).to_have_text("Connected")
    expect(visitor_panel.locator("[data-call-timer]")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    call = Call.objects.get()
    assert (call.kind, call.status, call.agent_id) == ("video", "active", agent.pk)
    assert call.answered_at is not None

    # Mute and camera off are this side's own: pressed, and said so.
    mute = agent_panel.get_by_role("button", name="Mute")
    mute.click()
    expect(agent_panel.get_by_role("button", name="Unmute")).to_have_attribute(
        "aria-pressed", "true"
    )
    agent_panel.get_by_role("button", name="Camera off").click()
    expect(agent_panel.get_by_role("button", name="Camera on")).to_have_attribute(
        "aria-pressed", "true"
    )
    screenshot(alice, "call-agent-live")
    screenshot(visitor, "call-visitor-live")
    assert violations(alice, "the dashboard in a call") == []
    assert violations(widget_frame(visitor), "the widget in a call") == []

    # The visitor shows their screen instead of their camera (Chromium's fake capture); the
    # agent goes on receiving frames, now of the screen, and the visitor can stop it.
    visitor_panel.get_by_role("button", name="Share screen").click()
    stop = visitor_panel.get_by_role("button", name="Stop sharing")
    expect(stop).to_have_attribute("aria-pressed", "true")
    grows(agent_panel, "data-frames-received")
    stop.click()
    expect(visitor_panel.get_by_role("button", name="Share screen")).to_have_attribute(
        "aria-pressed", "false"
    )

    visitor_panel.get_by_role("button", name="Hang up").click()
    expect(agent_panel.get_by_role("status")).to_have_text("Call ended")
    expect(chat.get_by_role("log")).to_contain_text(
        re.compile(r"Video call, \d+ s, ended by you\.")
    )
    expect(alice.locator("#pane").get_by_role("log")).to_contain_text(
        re.compile(r"Video call, \d+ s, ended by .+\.")
    )
    expect(agent_panel).to_be_hidden(timeout=10_000)  # the dock empties itself
    call.refresh_from_db()
    assert (call.status, call.ended_by) == ("ended", "visitor")
    assert call.duration_seconds is not None
    activity = Activity.objects.get(verb=Activity.Verb.CALL)
    assert activity.actor_id == agent.pk
    assert activity.detail.startswith("video, ")
    # The line names the visitor for the agents, and says "you" to the visitor.
    line = Message.objects.get(conversation=call.conversation, body__startswith="Video call")
    assert line.audience == "agents"
    assert line.visitor_body.endswith("ended by you.")


def test_the_visitor_declines_and_the_agent_sees_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    _visitor, chat, alice = chat_with_calls(browser, desk.url, inbox)
    alice.get_by_role("button", name="Voice call").click()
    visitor_panel = chat.locator("#call-panel")
    expect(visitor_panel.get_by_role("status")).to_have_text("Alice is calling you (voice)")
    visitor_panel.get_by_role("button", name="Decline").click()
    expect(alice.locator("#call-panel").get_by_role("status")).to_have_text("Call declined")
    expect(chat.get_by_role("log")).to_contain_text("You declined the voice call.")
    expect(alice.locator("#pane").get_by_role("log")).to_contain_text(
        re.compile(r".+ declined the voice call\.")
    )
    assert Call.objects.get().status == "declined"
    # Another call may follow at once: one at a time, not one ever.
    expect(alice.get_by_role("button", name="Voice call")).to_be_enabled(timeout=10_000)


def test_a_call_nobody_answers_is_missed_after_the_ring_time(
    desk_factory, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    server = desk_factory(SUPPORTDESK_CALL_RING_SECONDS="3")
    _visitor, chat, alice = chat_with_calls(browser, server.url, inbox)
    alice.get_by_role("button", name="Video call").click()
    visitor_panel = chat.locator("#call-panel")
    expect(visitor_panel.get_by_role("button", name="Accept")).to_be_visible()
    expect(alice.locator("#call-panel").get_by_role("status")).to_have_text("No answer")
    expect(visitor_panel.get_by_role("button", name="Accept")).to_be_hidden()
    expect(chat.get_by_role("log")).to_contain_text("Missed video call from Alice.")
    expect(alice.locator("#pane").get_by_role("log")).to_contain_text(
        re.compile(r"Missed video call: .+ did not answer\.")
    )
    call = Call.objects.get()
    assert (call.status, call.ended_by, call.answered_at) == ("missed", "desk", None)
    # Too late to answer now: the desk refuses it (the prompt is gone, and a forged frame too).
    elapsed = (call.ended_at - call.created_at).total_seconds()
    assert 3 <= elapsed < 10, elapsed


@pytest.mark.faults
def test_a_call_goes_on_while_the_server_restarts_and_signalling_resumes(
    desk_factory, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    server = desk_factory()
    _visitor, chat, alice = chat_with_calls(browser, server.url, inbox)
    alice.get_by_role("button", name="Video call").click()
    visitor_panel = chat.locator("#call-panel")
    visitor_panel.get_by_role("button", name="Accept").click()
    agent_panel = alice.locator("#call-panel")
    receiving(visitor_panel, video=True)
    receiving(agent_panel, video=True)

    server.kill()  # both sockets drop; the media goes browser to browser, not through it
    expect(chat.locator("#connection-status")).to_have_attribute(
        "data-state", re.compile("reconnecting|offline")
    )
    grows(visitor_panel, "data-frames-received")
    grows(agent_panel, "data-frames-received")
    server.start()
    expect(chat.locator("#connection-status")).to_have_attribute(
        "data-state", "open", timeout=30_000
    )
    expect(alice.locator("#connection-status")).to_have_attribute(
        "data-state", "open", timeout=30_000
    )
    # The call never stopped; its hang-up goes over the new sockets and ends it for both.
    expect(visitor_panel).to_have_attribute("data-ice-state", CONNECTED)
    expect(agent_panel).to_have_attribute("data-ice-state", CONNECTED)
    grows(agent_panel, "data-frames-received")
    alice_panel_hangup = agent_panel.get_by_role("button", name="Hang up")
    alice_panel_hangup.click()
    expect(visitor_panel.get_by_role("status")).to_have_text("Call ended")
    expect(chat.get_by_role("log")).to_contain_text(re.compile(r"Video call, \d+ s, ended by "))
    call = Call.objects.get()
    assert (call.status, call.ended_by) == ("ended", "agent")
    assert bubbles(chat.get_by_role("log"))[-1].startswith("Video call")


def test_a_visitor_who_reloads_the_page_mid_call_is_back_in_it(
    desk: Desk, browser: Browser, inbox: Inbox, agent: Agent
) -> None:
    visitor, chat, alice = chat_with_calls(browser, desk.url, inbox)
    alice.get_by_role("button", name="Video call").click()
    chat.locator("#call-panel").get_by_role("button", name="Accept").click()
    agent_panel = alice.locator("#call-panel")
    receiving(agent_panel, video=True)

    hellos: list[str] = []  # the rejoin's "let us connect afresh", over the visitor's socket
    visitor.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda frame: '"hello":true' in str(frame) and hellos.append(frame)
        ),
    )
    visitor.reload()  # or a link to another page of the site: the chat's frame loads anew
    chat = visitor.frame_locator('iframe[title="Chat"]')
    visitor_panel = chat.locator("#call-panel")
    # The widget opens by itself, the call in it: a new connection, media both ways again.
    receiving(visitor_panel, video=True)
    expect(agent_panel).to_have_attribute("data-ice-state", CONNECTED)
    grows(agent_panel, "data-frames-received")
    assert Call.objects.get().status == "active"  # one call, never ended by the reload
    # It rejoined once, although two frames told it of the call (the connect's `calls` and the
    # answer to its `call.sync`): two rejoins made two connections, one of them without sound.
    assert len(hellos) == 1, hellos
    visitor_panel.get_by_role("button", name="Hang up").click()
    expect(agent_panel.get_by_role("status")).to_have_text("Call ended")
