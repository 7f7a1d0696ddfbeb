"""Delivery under faults: what production loses (the client's network, the server process, Redis,
a response) is lost here for real, and each test counts what was sent against what arrived:
none lost, none twice, in order."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from http.client import HTTPConnection
from typing import Any

import pytest
from django.db import connection, transaction
from playwright.sync_api import (
    Browser,
    FrameLocator,
    Page,
    Request,
    Route,
    WebSocket,
    WebSocketRoute,
    expect,
)

from chat.models import Message
from tests.browser.conftest import Desk, RedisServer
from tests.browser.pages import (
    bubbles,
    new_context,
    open_widget,
    reply_as_agent,
    send_as_visitor,
    visitor_writes_and_alice_opens,
    widget_frame,
)
from tests.browser.proxy import TcpProxy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OFFLINE_TEXT = "You are offline — messages will be sent when you reconnect"


def start_conversation(
    browser: Browser, visitor_url: str, agent_url: str | None = None
) -> tuple[Page, FrameLocator, Page]:
    """A visitor writes, the agent opens the chat, claims it and answers; both are live."""
    visitor, chat, dashboard = visitor_writes_and_alice_opens(
        browser, visitor_url, "Hello", agent_url
    )
    dashboard.get_by_role("button", name="Claim").click()
    reply_as_agent(dashboard, "Hi, how can I help?")
    expect(chat.get_by_role("log")).to_contain_text("Hi, how can I help?")
    return visitor, chat, dashboard


def messages_break_the_socket(page: Page) -> FrameLocator:
    """From now on the visitor's socket works for everything but messages: one that sends a
    message is dropped on the spot (the network failing as it goes), so the outbox sends over
    HTTP, where the test's faults are. The page is reloaded so its socket is a routed one;
    returns the chat, open again."""

    def route(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        socket.on_message(
            lambda frame: socket.close() if '"type":"send"' in str(frame) else server.send(frame)
        )

    page.context.route_web_socket(re.compile(r"/ws/widget/"), route)
    return reopen_chat(page)


def reopen_chat(page: Page) -> FrameLocator:
    """Reload the customer's page and open the chat again, its socket new and open."""
    page.reload()
    page.get_by_role("button", name="Open chat").click()
    chat = page.frame_locator('iframe[title="Chat"]')
    expect(chat.locator("#connection-status")).to_have_attribute("data-state", "open")
    return chat


def socket_frames(page: Page, direction: str, marker: str) -> list[dict[str, Any]]:
    """Every JSON frame the page's sockets opened from now on send (`framesent`) or get
    (`framereceived`) whose text holds `marker`, as the page saw it."""
    seen: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        def frame(payload: str | bytes) -> None:
            if isinstance(payload, str) and marker in payload:
                seen.append(json.loads(payload))

        socket.on(direction, frame)

    page.on("websocket", watch)
    return seen


def assert_exactly_once_in_order(chat: FrameLocator, dashboard: Page, expected: list[str]) -> None:
    """Both sides show exactly `expected` (stored messages, no pending copies), in order, and the
    database holds exactly that. Prints the counts it compared."""
    # Generous: 200 messages on a 2-core machine that also runs the other test worker.
    expect(chat.locator("li.msg[data-seq]")).to_have_count(len(expected), timeout=60_000)
    expect(dashboard.locator("#pane li.msg[data-seq]")).to_have_count(len(expected), timeout=60_000)
    expect(chat.locator("[data-pending]")).to_have_count(0)
    seen = {
        "visitor": bubbles(chat.get_by_role("log")),
        "agent": bubbles(dashboard.get_by_role("log")),
        "stored": list(Message.objects.order_by("seq").values_list("body", flat=True)),
    }
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0]
    print(f"\n{test}: sent {len(expected)}", end="")
    for side, texts in seen.items():
        missing = len(set(expected) - set(texts))
        doubled = len(texts) - len(set(texts))
        misplaced = sum(a != b for a, b in zip(texts, expected, strict=False))
        print(
            f"; {side} {len(texts)} (missing {missing}, doubled {doubled}, out of place {misplaced})",
            end="",
        )
    print()
    for texts in seen.values():
        assert texts == expected


OPENING = ["Hello", "Alice joined the chat.", "Hi, how can I help?"]


def test_a_offline_visitor_sends_five_and_the_agent_gets_each_once_in_order(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    visitor, chat, dashboard = start_conversation(browser, desk.url)
    status = chat.locator("#connection-status")

    visitor.context.set_offline(True)
    expect(status).to_have_text(OFFLINE_TEXT)
    offline = [f"written offline {i}" for i in range(1, 6)]
    for text in offline:
        send_as_visitor(chat, text)
    expect(chat.locator("[data-pending]")).to_have_count(5)
    expect(chat.locator('[data-pending][data-state="offline"]')).to_have_count(5)
    expect(chat.locator("[data-pending]").first).to_contain_text("Waiting for network")

    visitor.context.set_offline(False)
    expect(status).not_to_have_text(OFFLINE_TEXT)
    assert_exactly_once_in_order(chat, dashboard, OPENING + offline)


def test_messages_queued_across_a_clock_jump_keep_the_order_they_were_typed_in(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    """Issue 15, D4: offline, three messages; the computer's clock goes back an hour (a time
    sync, a time zone fix); three more; online. They are stored and shown as typed."""
    visitor, chat, dashboard = start_conversation(browser, desk.url)
    visitor.context.set_offline(True)
    before = [f"before the jump {i}" for i in range(1, 4)]
    for text in before:
        send_as_visitor(chat, text)
    widget_frame(visitor).evaluate(
        "() => { const real = Date.now; Date.now = () => real() - 3600 * 1000; }"
    )
    after = [f"after the jump {i}" for i in range(1, 4)]
    for text in after:
        send_as_visitor(chat, text)
    expect(chat.locator("[data-pending]")).to_have_count(6)
    visitor.context.set_offline(False)
    assert_exactly_once_in_order(chat, dashboard, OPENING + before + after)


def test_failed_sends_say_not_sent_survive_a_reload_and_go_once_on_retry(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    visitor, chat, dashboard = start_conversation(browser, desk.url)
    chat = messages_break_the_socket(visitor)  # neither the socket nor HTTP gets one through
    visitor.context.route("**/messages", lambda route: route.abort("connectionrefused"))
    send_as_visitor(chat, "first try")
    send_as_visitor(chat, "second in line")
    # Both say so: the second waits on the first (issue 15, D5: it used to say "Sending…").
    not_sent = ["Not sent — Retry", "Not sent — Retry"]
    expect(chat.locator("[data-pending] .msg__state")).to_have_text(not_sent)

    # The queue is in localStorage: a reload (still unable to send) shows both, in order.
    visitor.reload()
    visitor.get_by_role("button", name="Open chat").click()
    expect(chat.locator("[data-pending] .msg__bubble")).to_have_text(
        ["first try", "second in line"]
    )
    expect(chat.locator("[data-pending] .msg__state")).to_have_text(not_sent)

    visitor.context.unroute("**/messages")
    visitor.context.unroute_all()
    chat.get_by_role("button", name="Retry").first.click()
    assert_exactly_once_in_order(chat, dashboard, [*OPENING, "first try", "second in line"])


def test_e_a_post_whose_response_is_lost_is_retried_and_stored_once(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    visitor, chat, dashboard = start_conversation(browser, desk.url)
    chat = messages_break_the_socket(visitor)
    client_ids: list[str] = []
    lost: list[int] = []

    def lose_the_first_answer(route: Route) -> None:
        client_ids.append(re.search(r"client_id=([0-9a-f-]+)", route.request.post_data or "")[1])
        response = route.fetch()  # the server stores the message...
        if not lost:
            lost.append(response.status)
            route.abort("connectionreset")  # ...and its answer never reaches the browser
        else:
            route.fulfill(response=response)

    visitor.context.route("**/messages", lose_the_first_answer)
    # The first attempt fails in the browser (requestfailed); the retry is what finishes.
    with visitor.context.expect_event(
        "requestfinished", predicate=lambda r: r.url.endswith("/messages"), timeout=15_000
    ):
        send_as_visitor(chat, "my answer got lost")
    assert_exactly_once_in_order(chat, dashboard, [*OPENING, "my answer got lost"])
    assert lost == [201]
    assert len(client_ids) == 2
    assert client_ids[0] == client_ids[1]


def test_a_message_whose_ack_is_lost_with_the_socket_is_sent_again_and_stored_once(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    """The message goes over the socket and is stored; the socket dies before its `ack`
    arrives. The outbox sends the same entry over HTTP (same client_id): answered as already
    stored, shown once on both sides."""
    visitor, chat, dashboard = start_conversation(browser, desk.url)
    acks_lost: list[str] = []

    def lose_the_first_ack(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()

        def from_server(frame: str | bytes) -> None:
            if not acks_lost and '"type": "ack"' in str(frame):
                acks_lost.append(json.loads(frame)["client_id"])
                socket.close()  # the answer never reaches the page
            else:
                socket.send(frame)

        server.on_message(from_server)

    visitor.context.route_web_socket(re.compile(r"/ws/widget/"), lose_the_first_ack)
    chat = reopen_chat(visitor)
    posts: list[tuple[int, str]] = []
    visitor.on(
        "response",
        lambda r: r.url.endswith("/messages") and posts.append((r.status, r.request.post_data)),
    )
    send_as_visitor(chat, "my ack got lost")
    assert_exactly_once_in_order(chat, dashboard, [*OPENING, "my ack got lost"])
    assert len(acks_lost) == 1
    # Sent again over HTTP with the same client_id: "stored before" (200), not a second copy.
    assert [(status, f"client_id={acks_lost[0]}" in data) for status, data in posts] == [
        (200, True)
    ]


def test_two_tabs_of_one_visitor_share_the_chat_and_send_a_queued_message_once(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    context = new_context(browser)
    tab1, tab2 = context.new_page(), context.new_page()
    # Every `send` frame of the queued message, over either tab's socket (and its POSTs below).
    sent = {
        tab: socket_frames(page, "framesent", "queued in tab one")
        for tab, page in (("tab 1", tab1), ("tab 2", tab2))
    }
    chat1 = open_widget(tab1, desk.url)
    send_as_visitor(chat1, "from tab one")
    chat2 = open_widget(tab2, desk.url)
    expect(chat2.get_by_role("log")).to_contain_text("from tab one")
    send_as_visitor(chat2, "from tab two")
    expect(chat1.get_by_role("log")).to_contain_text("from tab two")
    for chat in (chat1, chat2):  # both stored and shown in both tabs before the network goes
        expect(chat.locator("li.msg[data-seq]")).to_have_count(2)
        expect(chat.locator("[data-pending]")).to_have_count(0)

    posts: list[tuple[str, str]] = []  # (which tab, body) of every POST that got an answer

    def record(request: Request) -> None:
        if request.url.endswith("/messages") and "queued+in+tab+one" in (request.post_data or ""):
            posts.append(("tab 1" if request.frame.page == tab1 else "tab 2", request.post_data))

    context.on("requestfinished", record)
    context.set_offline(True)
    send_as_visitor(chat1, "queued in tab one")
    expect(chat2.locator("[data-pending] .msg__bubble")).to_have_text(["queued in tab one"])
    context.set_offline(False)
    for chat in (chat1, chat2):
        expect(chat.locator("li.msg[data-seq]")).to_have_count(3)
        expect(chat.locator("[data-pending]")).to_have_count(0)
        assert bubbles(chat.get_by_role("log")) == [
            "from tab one",
            "from tab two",
            "queued in tab one",
        ]
    senders = {tab for tab, _ in posts} | {tab for tab, frames in sent.items() if frames}
    assert senders in ({"tab 1"}, {"tab 2"}), (posts, sent)  # one tab sent it
    assert Message.objects.filter(body="queued in tab one").count() == 1


def test_an_agent_with_two_tabs_sees_everything_in_both(
    desk: Desk, browser: Browser, inbox, agent
) -> None:
    _visitor, chat, dashboard = start_conversation(browser, desk.url)
    second = dashboard.context.new_page()
    second.goto(dashboard.url)
    expect(second.locator("#connection-status")).to_have_attribute("data-state", "open")
    send_as_visitor(chat, "seen in both tabs?")
    # Stored before the reply, or the reply may take the earlier seq (two POSTs racing).
    expect(dashboard.get_by_role("log")).to_contain_text("seen in both tabs?")
    reply_as_agent(dashboard, "yes, both")
    for tab in (dashboard, second):
        expect(tab.locator("#pane li.msg[data-seq]")).to_have_count(5)
        assert bubbles(tab.get_by_role("log")) == [*OPENING, "seen in both tabs?", "yes, both"]


@pytest.mark.faults
def test_b_server_killed_mid_conversation_both_sides_recover_by_themselves(
    desk_factory, browser: Browser, inbox, agent
) -> None:
    server = desk_factory()
    _visitor, chat, dashboard = start_conversation(browser, server.url)
    visitor_status = chat.locator("#connection-status")
    agent_status = dashboard.locator("#connection-status")

    server.kill()
    expect(visitor_status).to_have_attribute("data-state", re.compile("reconnecting|offline"))
    expect(agent_status).to_have_attribute("data-state", re.compile("reconnecting|offline"))
    send_as_visitor(chat, "written while the server was down")
    expect(chat.locator("[data-pending]")).to_have_count(1)

    started = time.monotonic()
    server.start()
    expect(visitor_status).to_have_attribute("data-state", "open", timeout=30_000)
    expect(agent_status).to_have_attribute("data-state", "open", timeout=30_000)
    print(f"\nrecovered {time.monotonic() - started:.2f} s after the server was back")

    # What the visitor wrote during the outage goes by itself once the socket is back.
    expect(dashboard.get_by_role("log")).to_contain_text("written while the server was down")
    reply_as_agent(dashboard, "back after the restart")
    assert_exactly_once_in_order(
        chat,
        dashboard,
        [*OPENING, "written while the server was down", "back after the restart"],
    )


@pytest.mark.faults
def test_c_redis_restart_while_200_messages_flow_all_arrive_once(
    desk_factory, private_redis: RedisServer, browser: Browser, inbox, agent
) -> None:
    server = desk_factory(REDIS_URL=private_redis.url)
    visitor, chat, dashboard = start_conversation(browser, server.url)
    frame = widget_frame(visitor)
    queue = """([from, to]) => {
      const form = document.getElementById('composer');
      for (let i = from; i < to; i++) {
        form.querySelector('textarea').value = `flow ${i}`;
        form.requestSubmit();
      }
    }"""
    frame.evaluate(queue, [0, 100])
    deadline = time.monotonic() + 30
    while Message.objects.filter(body__startswith="flow ").count() < 30:
        assert time.monotonic() < deadline, "messages did not start flowing"
        time.sleep(0.02)
    private_redis.kill()
    private_redis.start()
    frame.evaluate(queue, [100, 200])

    flow = [f"flow {i}" for i in range(200)]
    assert_exactly_once_in_order(chat, dashboard, OPENING + flow)


WATCH_STATES = """() => {
  window.__states = [];
  const status = document.getElementById('connection-status');
  new MutationObserver(() => window.__states.push(status.dataset.state))
    .observe(status, {attributes: true});
}"""

REDIS_OUTAGE_SECONDS = float(os.environ.get("REDIS_OUTAGE_SECONDS", "60"))


@pytest.mark.faults
def test_redis_down_for_a_minute_no_socket_closes_and_messages_keep_arriving(
    desk_factory, private_redis: RedisServer, browser: Browser, inbox, agent
) -> None:
    """Issue 15, item 1: the channel layer's Redis stopped for 60 s while both sides type, read
    and send, and the visitor reloads the page. No doorbell rings, yet no socket closes (typing
    and read marks are dropped or stored without a ring), the reloaded page's socket opens, and
    every message arrives, through the process's database catch-up
    (every SUPPORTDESK_RESYNC_SECONDS, 2 s here), once and in order."""
    server = desk_factory(REDIS_URL=private_redis.url, SUPPORTDESK_RESYNC_SECONDS="2")
    visitor, chat, dashboard = start_conversation(browser, server.url)
    widget = widget_frame(visitor)
    widget.evaluate(WATCH_STATES)
    dashboard.evaluate(WATCH_STATES)

    private_redis.kill()
    stopped = time.monotonic()
    sent: list[str] = []
    round_ = 0
    while time.monotonic() - stopped < REDIS_OUTAGE_SECONDS:
        round_ += 1
        chat.get_by_role("textbox", name="Message").press_sequentially("typing", delay=50)
        send_as_visitor(chat, f"visitor {round_}")
        # It reaches the agent without Redis, who reads it (the pane is open) and answers.
        expect(dashboard.get_by_role("log")).to_contain_text(f"visitor {round_}", timeout=15_000)
        dashboard.get_by_role("textbox", name="Reply").press_sequentially("typing", delay=50)
        reply_as_agent(dashboard, f"agent {round_}")
        expect(chat.get_by_role("log")).to_contain_text(f"agent {round_}", timeout=15_000)
        sent += [f"visitor {round_}", f"agent {round_}"]
        if round_ == 2:
            # A page opened during the outage gets its socket (the handshake answered 500).
            chat = reopen_chat(visitor)
            widget = widget_frame(visitor)
            widget.evaluate(WATCH_STATES)
        visitor.wait_for_timeout(5000)
    outage = time.monotonic() - stopped
    private_redis.start()

    assert_exactly_once_in_order(chat, dashboard, [*OPENING, *sent])
    # No socket closed: neither page ever left "open".
    assert widget.evaluate("window.__states.filter((s) => s !== 'open')") == []
    assert dashboard.evaluate("window.__states.filter((s) => s !== 'open')") == []
    print(f" (Redis down {outage:.0f} s, {round_} rounds)")


@pytest.mark.faults
def test_d_two_processes_deliver_across_and_clients_move_when_one_dies(
    desk_factory, private_redis: RedisServer, browser: Browser, inbox, agent
) -> None:
    first = desk_factory(REDIS_URL=private_redis.url)
    second = desk_factory(REDIS_URL=private_redis.url)
    # The visitor's balancer prefers the first process, the agent's the second.
    to_first = TcpProxy([first.port, second.port]).start()
    to_second = TcpProxy([second.port, first.port]).start()
    try:
        _visitor, chat, dashboard = start_conversation(browser, to_first.url, to_second.url)
        send_as_visitor(chat, "from process one")
        expect(dashboard.get_by_role("log")).to_contain_text("from process one")

        first.kill()
        expect(chat.locator("#connection-status")).to_have_attribute(
            "data-state", "open", timeout=30_000
        )
        send_as_visitor(chat, "after the move")
        reply_as_agent(dashboard, "still here")
        assert_exactly_once_in_order(
            chat, dashboard, [*OPENING, "from process one", "after the move", "still here"]
        )
    finally:
        to_first.stop()
        to_second.stop()


@pytest.mark.faults
def test_a_socket_that_silently_stops_is_noticed_and_replaced(
    desk_factory, browser: Browser, inbox, agent
) -> None:
    """Open on paper, dead in fact (a NAT entry expired, a proxy dropped it without a word):
    the heartbeat notices, the client reconnects and resumes, and nothing is missed."""
    server = desk_factory(SUPPORTDESK_HEARTBEAT_SECONDS="1")
    balancer = TcpProxy([server.port]).start()
    try:
        visitor, chat, dashboard = start_conversation(browser, balancer.url, server.url)
        frame = widget_frame(visitor)
        frame.evaluate(
            """() => {
              window.__states = [];
              new MutationObserver(() => window.__states.push(
                document.getElementById('connection-status').dataset.state
              )).observe(document.getElementById('connection-status'), {attributes: true});
            }"""
        )
        balancer.freeze()
        reply_as_agent(dashboard, "sent into the void")
        expect(chat.get_by_role("log")).to_contain_text("sent into the void", timeout=15_000)
        assert "reconnecting" in frame.evaluate("window.__states")
        assert_exactly_once_in_order(chat, dashboard, [*OPENING, "sent into the void"])
    finally:
        balancer.stop()


def test_g_a_visitor_over_the_message_limit_loses_nothing_the_widget_waits_it_out(
    desk_factory, browser: Browser, inbox, agent
) -> None:
    # 3 messages per 6 s: the opening "Hello" and two more go at once, the rest are answered 429,
    # for longer than the widget's retries after a failure last (0.6 s + 1.5 s).
    server = desk_factory(SUPPORTDESK_RATE_VISITOR_MESSAGES="3/6")
    visitor, chat, dashboard = start_conversation(browser, server.url)
    refused: list[Any] = socket_frames(visitor, "framereceived", '"status": 429')
    chat = reopen_chat(visitor)  # a socket the watch above sees
    visitor.on("response", lambda r: r.status == 429 and refused.append(r.url))
    burst = [f"burst {i}" for i in range(1, 7)]
    for text in burst:
        send_as_visitor(chat, text)
    # Refused ones wait in the outbox as "sending", never "Not sent", and go after Retry-After.
    expect(chat.get_by_text("Not sent")).to_have_count(0)
    assert_exactly_once_in_order(chat, dashboard, [*OPENING, *burst])
    assert refused, "the limit was never hit: the test proved nothing"
    print(f" ({len(refused)} answers 429 waited out, over the socket or HTTP)")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="holds a PostgreSQL table lock")
def test_a_desk_too_busy_for_a_message_loses_nothing_the_widget_waits_it_out(
    desk_factory, browser: Browser, inbox, agent
) -> None:
    """One request thread and a queue of 12, held full: the agent's dashboard requests wait for
    the sessions table, which the test keeps locked. Meanwhile the visitor's messages are
    answered 503 with Retry-After (supportdesk/handler.py) before anything is stored, for
    longer than the retries after a failure last (0.6 s + 1.5 s); the outbox waits them out and
    each arrives once, in order. (A queue of 12 still holds the two browsers' page loads:
    Chromium opens at most 6 connections to a host.)"""
    server = desk_factory(SUPPORTDESK_HTTP_THREADS="1", SUPPORTDESK_HTTP_QUEUE="12")
    visitor, chat, dashboard = start_conversation(browser, server.url)
    chat = messages_break_the_socket(visitor)  # the HTTP queue is what this test fills
    session = next(c["value"] for c in dashboard.context.cookies() if c["name"] == "sessionid")
    busy: list[str] = []
    visitor.on("response", lambda r: r.status == 503 and busy.append(r.url))
    stop = threading.Event()

    def wait_in_line() -> None:  # a dashboard request: it reads the session, so it waits
        while not stop.is_set():
            with contextlib.suppress(OSError):
                asking = HTTPConnection("127.0.0.1", server.port, timeout=30)
                asking.request("GET", "/agents/", headers={"Cookie": f"sessionid={session}"})
                if asking.getresponse().status == 503:
                    time.sleep(0.05)
                asking.close()

    crowd = [threading.Thread(target=wait_in_line, daemon=True) for _ in range(16)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
        for thread in crowd:
            thread.start()
        burst = [f"busy {i}" for i in range(1, 6)]
        for text in burst:
            send_as_visitor(chat, text)
        deadline = time.monotonic() + 20
        while not busy and time.monotonic() < deadline:
            visitor.wait_for_timeout(200)  # lets Playwright deliver the response events
        visitor.wait_for_timeout(4000)  # busy for longer than three attempts would last
        stop.set()
    for thread in crowd:
        thread.join(timeout=30)
    assert_exactly_once_in_order(chat, dashboard, [*OPENING, *burst])
    expect(chat.get_by_text("Not sent")).to_have_count(0)
    assert busy, "the desk was never too busy: the test proved nothing"
    print(f" ({len(busy)} answers 503 waited out)")
