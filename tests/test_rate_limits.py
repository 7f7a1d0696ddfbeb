"""Rate limits: per visitor, per IP address, per login name and per socket, counted in the cache
(Redis when REDIS_URL is set, as in CI), answered 429 with Retry-After, and losing nothing."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from django.core.cache import BaseCache
from django.test import Client
from django.urls import reverse

from chat.models import Inbox, Message, Visitor
from chat.tokens import visitor_token
from supportdesk import ratelimit
from supportdesk.ratelimit import Rate, address_from
from tests.chat.test_consumers import (
    assert_refused,
    connect_visitor,
    send,
    widget_communicator,
)
from tests.chat.test_views import post_message, widget_url
from tests.conftest import PASSWORD


def limits(settings, **rates: str) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {**settings.SUPPORTDESK_RATE_LIMITS, **rates}


def assert_too_many(response, *, within: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= within
    body = response.json()
    assert body["error"] == "rate_limited"
    assert body["message"]
    assert body["retry_after"] == int(response["Retry-After"])


@pytest.mark.django_db
def test_a_visitor_over_the_message_limit_waits_and_then_loses_nothing(
    client: Client, inbox: Inbox, visitor: Visitor, settings
) -> None:
    limits(settings, visitor_messages="3/1")
    token = visitor_token(visitor)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    time.sleep(1.01 - time.time() % 1)  # start with a fresh 1-s window: all four fall in it
    for n, client_id in enumerate(ids[:3]):
        assert post_message(client, inbox, token, f"message {n}", client_id).status_code == 201
    refused = post_message(client, inbox, token, "message 3", ids[3])
    assert_too_many(refused, within=1)
    assert "message 3" not in [m.body for m in Message.objects.all()]  # refused before storing
    time.sleep(int(refused["Retry-After"]) + 0.05)
    # The client sends the same entry again, as the widget does after Retry-After.
    assert post_message(client, inbox, token, "message 3", ids[3]).status_code == 201
    assert list(
        Message.objects.filter(conversation__visitor=visitor)
        .exclude(sender_kind="system")
        .order_by("seq")
        .values_list("body", flat=True)
    ) == ["message 0", "message 1", "message 2", "message 3"]


@pytest.mark.django_db
def test_one_visitor_hitting_the_limit_does_not_slow_another(
    client: Client, inbox: Inbox, visitor: Visitor, visitor_b: Visitor, settings
) -> None:
    limits(settings, visitor="2/60")
    url = widget_url("widget_conversation", inbox)
    mine = {"X-Visitor-Token": visitor_token(visitor)}
    for _ in range(2):
        assert client.get(url, headers=mine).status_code == 200
    assert_too_many(client.get(url, headers=mine), within=60)
    assert client.get(url, headers={"X-Visitor-Token": visitor_token(visitor_b)}).status_code == 200


@pytest.mark.django_db
def test_new_visitor_sessions_are_limited_per_address_and_returning_ones_are_not(
    client: Client, inbox: Inbox, visitor: Visitor, settings
) -> None:
    limits(settings, session_ip="2/60")
    url = widget_url("widget_session", inbox)
    for _ in range(2):
        assert client.post(url, REMOTE_ADDR="203.0.113.7").status_code == 200
    assert_too_many(client.post(url, REMOTE_ADDR="203.0.113.7"), within=60)
    assert client.post(url, REMOTE_ADDR="198.51.100.1").status_code == 200  # another address
    # A returning visitor (a good token) is not a new session: still welcome.
    returning = client.post(
        url, REMOTE_ADDR="203.0.113.7", headers={"X-Visitor-Token": visitor_token(visitor)}
    )
    assert returning.status_code == 200
    assert returning.json()["visitor"] == visitor.pk


@pytest.mark.django_db
def test_per_address_limits_count_the_address_our_proxy_saw_not_what_the_client_claims(
    client: Client, inbox: Inbox, visitor: Visitor, settings
) -> None:
    limits(settings, widget_ip="2/60")
    settings.SUPPORTDESK_TRUSTED_PROXIES = 1
    url = widget_url("widget_conversation", inbox)
    token = visitor_token(visitor)

    def get(forwarded_for: str):
        return client.get(
            url,
            headers={"X-Visitor-Token": token},
            REMOTE_ADDR="10.0.0.2",  # the proxy
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    # The client invents the left part on every request; the proxy appends what it saw.
    assert get("1.1.1.1, 203.0.113.9").status_code == 200
    assert get("2.2.2.2, 203.0.113.9").status_code == 200
    assert_too_many(get("3.3.3.3, 203.0.113.9"), within=60)
    assert get("3.3.3.3, 198.51.100.4").status_code == 200


def test_addresses_and_rates_are_read_strictly(settings) -> None:
    settings.SUPPORTDESK_TRUSTED_PROXIES = 0
    assert address_from("10.0.0.2", "6.6.6.6") == "10.0.0.2"  # no proxy trusted: header ignored
    settings.SUPPORTDESK_TRUSTED_PROXIES = 2
    assert address_from("10.0.0.2", "6.6.6.6, 203.0.113.9, 10.0.0.1") == "203.0.113.9"
    assert address_from("10.0.0.2", "203.0.113.9") == "10.0.0.2"  # fewer hops than proxies
    assert Rate.parse("30/60") == Rate(30, 60)
    for bad in ("0/60", "5/0", "x/60", "-1/5"):
        with pytest.raises(ValueError, match=r"."):
            Rate.parse(bad)


@pytest.mark.django_db
def test_failed_logins_are_throttled_per_name_and_address_even_with_the_right_password(
    client: Client, agent, settings
) -> None:
    limits(settings, login="3/300", login_ip="100/300")
    url = reverse("login")
    for _ in range(3):
        wrong = client.post(url, {"username": "alice", "password": "guess"})
        assert wrong.status_code == 200
        assert b"Please enter a correct username and password" in wrong.content
    throttled = client.post(url, {"username": "Alice", "password": PASSWORD})  # any case
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 300
    minutes = -(-int(throttled["Retry-After"]) // 60)
    assert f"Too many failed attempts. Try again in {minutes} minute" in throttled.text
    assert "_auth_user_id" not in client.session
    # Another person at another address is not locked out by it.
    other = client.post(
        url, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="198.51.100.8"
    )
    assert other.status_code == 302
    assert client.session["_auth_user_id"] == str(agent.user_id)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spelling", ["\uff41lice", "ALİCE".lower(), "alice\u00a0", "\uff21\uff4c\uff49\uff43\uff45"]
)
def test_a_look_alike_spelling_of_a_throttled_name_is_throttled_too(
    client: Client, agent, settings, spelling: str
) -> None:
    """Django logs the NFKC form of a name in (alice with a fullwidth a is alice); the throttle
    counted the raw name, so a look-alike let the password through (issue 16)."""
    limits(settings, login="3/300", login_ip="100/300")
    url = reverse("login")
    for _ in range(3):
        assert client.post(url, {"username": "alice", "password": "guess"}).status_code == 200
    attempt = client.post(url, {"username": spelling, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert attempt.status_code in (200, 429)  # throttled, or not a name that logs in as alice


@pytest.mark.django_db
def test_the_admin_login_is_throttled_too(client: Client, settings) -> None:
    limits(settings, login="100/300", login_ip="2/300")
    url = reverse("admin:login")
    for name in ("root", "admin"):  # one address trying many names
        assert client.post(url, {"username": name, "password": "x"}).status_code == 200
    throttled = client.post(url, {"username": "administrator", "password": "x"})
    assert b"Too many failed attempts" in throttled.content


@pytest.mark.django_db(transaction=True)
async def test_a_socket_flooding_frames_is_told_to_slow_down_and_keeps_its_messages(
    visitor: Visitor, settings
) -> None:
    limits(settings, socket_frames="5/60")
    socket = await connect_visitor(visitor)
    try:
        for _ in range(6):
            await socket.send_json_to({"type": "ping"})
        answers = [await socket.receive_json_from() for _ in range(6)]
        assert [a["type"] for a in answers[:5]] == ["pong"] * 5
        assert answers[5]["code"] == "rate_limited"
        assert 1 <= answers[5]["retry_after"] <= 60
        # The socket stays open and still delivers what the desk pushes.
        message = await send(visitor, "still here")
        frame = await socket.receive_json_from(timeout=5)
        assert frame["seq"] == message.seq
        assert "still here" in frame["html"]
    finally:
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_too_many_sockets_from_one_address_are_closed_with_4429(
    visitor: Visitor, settings
) -> None:
    limits(settings, socket_ip="1/60")
    first = await connect_visitor(visitor)
    try:
        await assert_refused(widget_communicator(visitor, visitor_token(visitor)), code=4429)
    finally:
        await first.disconnect()


@pytest.mark.django_db
def test_with_the_cache_down_limits_let_requests_through_rather_than_fail_them(
    client: Client, inbox: Inbox, visitor: Visitor, settings, cache_down: None
) -> None:
    limits(settings, visitor_messages="1/60", session_ip="1/60")
    token = visitor_token(visitor)
    for n in range(3):
        sent = post_message(client, inbox, token, f"while Redis restarts {n}", str(uuid.uuid4()))
        assert sent.status_code == 201
    assert client.post(widget_url("widget_session", inbox)).status_code == 200
    assert client.post(reverse("login"), {"username": "x", "password": "y"}).status_code == 200


@pytest.mark.faults
@pytest.mark.django_db
def test_a_hung_redis_costs_one_request_one_timeout_not_every_request(
    client: Client,
    inbox: Inbox,
    visitor: Visitor,
    visitor_b: Visitor,
    private_redis,
    settings,
    monkeypatch,
) -> None:
    """Issue 15, D6: Redis frozen (SIGSTOP). The first message POST waits for the cache's
    socket timeout (1 s) and is let through uncounted; the ones right after do not ask Redis
    again (counted as commands sent to it, not as seconds, which a loaded machine stretches);
    once the pause is over, the limits count again."""
    import redis.connection

    from supportdesk import ratelimit

    monkeypatch.setattr(ratelimit, "AWAY_SECONDS", 3.0)
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    }
    sent_to_frozen: list[bytes] = []
    send = redis.connection.Connection.send_packed_command

    def counting_send(connection, command, *args, **kwargs):  # type: ignore[no-untyped-def]
        if connection.port == private_redis.port:
            sent_to_frozen.append(command)
        return send(connection, command, *args, **kwargs)

    token = visitor_token(visitor)
    assert post_message(client, inbox, token, "warm", str(uuid.uuid4())).status_code == 201
    os.kill(private_redis.process.pid, signal.SIGSTOP)
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting_send)
    try:
        took = []
        for n in range(3):
            started = time.monotonic()
            response = post_message(client, inbox, token, f"frozen {n}", str(uuid.uuid4()))
            took.append(time.monotonic() - started)
            assert response.status_code == 201
            if n == 0:
                assert len(sent_to_frozen) == 1  # asked once; it timed out; let through
        assert took[0] >= 0.9  # it did wait for the frozen Redis's timeout (1 s)
        assert len(sent_to_frozen) == 1, took  # the next two did not ask: no second timeout
    finally:
        monkeypatch.setattr(redis.connection.Connection, "send_packed_command", send)
        os.kill(private_redis.process.pid, signal.SIGCONT)
    time.sleep(3.1)
    # Counting again (another visitor: the frozen Redis may still run the INCR it was sent).
    limits(settings, visitor_messages="1/60")
    other = visitor_token(visitor_b)
    assert post_message(client, inbox, other, "counted", str(uuid.uuid4())).status_code == 201
    assert post_message(client, inbox, other, "refused", str(uuid.uuid4())).status_code == 429


@pytest.mark.django_db
def test_a_flood_of_other_requests_does_not_make_the_embedded_desk_forget_a_lockout(
    client: Client, agent, settings
) -> None:
    """Without Redis the counters live in the process (settings.EMBEDDED_CACHE). Django's
    in-memory cache drops a third of its entries at 300: ~360 widget requests from the attacker
    emptied the lockout and the password went through (issue 16)."""
    settings.CACHES = {"default": dict(settings.EMBEDDED_CACHE)}
    limits(settings, login="3/300", login_ip="100/300", widget_ip="100000/60")
    url = reverse("login")
    for _ in range(3):
        assert client.post(url, {"username": "alice", "password": "guess"}).status_code == 200
    for i in range(2000):  # the flood: other keys, each a live window
        ratelimit.hit("widget_ip", f"203.0.113.{i}")
    assert client.post(url, {"username": "alice", "password": PASSWORD}).status_code == 429


def small_windows(settings, max_entries: int) -> BaseCache:
    """The embedded counters holding at most `max_entries`, empty. (In-memory caches of one
    LOCATION share their entries across instances: another test's windows would be there.)"""
    settings.CACHES = {
        "default": {
            "BACKEND": "supportdesk.ratelimit.Windows",
            "LOCATION": f"small-windows-{max_entries}",
            "OPTIONS": {"MAX_ENTRIES": max_entries},
        }
    }
    cache = ratelimit.counter()
    cache.clear()
    return cache


def test_a_full_embedded_counter_refuses_rather_than_forgets(settings) -> None:
    small_windows(settings, 5)
    limits(settings, widget_ip="10/60")
    assert [ratelimit.hit("widget_ip", f"key-{i}") for i in range(5)] == [0] * 5
    assert ratelimit.hit("widget_ip", "key-6") > 0  # no room for its window: refused
    assert ratelimit.hit("widget_ip", "key-0") == 0  # the live windows are all still counted


def test_a_full_embedded_counter_still_rewrites_a_window_it_holds(settings) -> None:
    """Full of live windows, `Windows` refuses a new key only: writing a key it already holds
    takes no room (it raised Full: Django's `_set` culls before every write when full)."""
    cache = small_windows(settings, 3)
    for i in range(3):
        cache.set(f"key-{i}", i, timeout=60)
    cache.set("key-0", 10, timeout=60)
    assert [cache.get(f"key-{i}") for i in range(3)] == [10, 1, 2]
    with pytest.raises(ratelimit.Full):
        cache.set("key-3", 3, timeout=60)


@pytest.mark.parametrize("name", ["alice", "bob smith", "\uff41dmin\x00", "😀" * 150, "é\u202e"])
def test_any_login_name_makes_a_cache_key_every_backend_takes(name: str, settings) -> None:
    """A login name is any Unicode: the throttle's cache key must not carry it raw (spaces and
    control characters made CacheKeyWarning; a long name a long key)."""
    import warnings

    from django.core.cache.backends.base import CacheKeyWarning

    limits(settings, login="5/60")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        assert ratelimit.hit("login", f"127.0.0.1:{name}", refuses=False) == 0
        assert ratelimit.waiting("login", f"127.0.0.1:{name}") == 0
    _, key, _ = ratelimit._window("login", f"127.0.0.1:{name}")
    assert len(key) < 120
    assert key.isascii()
    assert " " not in key
