"""Structured logs (supportdesk.logs): the JSON line whatever formats it (python-json-logger
underneath: the same keys, the ids only when set, extras as keys, an exception's traceback as one
string), the request and socket ids on every line, readable text lines, and repeats held back."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.models import Agent
from chat.models import Conversation, Inbox
from supportdesk import ratelimit
from supportdesk.asgi import application
from supportdesk.logs import (
    ContextFilter,
    JsonFormatter,
    Repeats,
    TextFormatter,
    request_id,
    socket_id,
)
from tests.chat.test_consumers import SAME_ORIGIN, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def line(message: str, *args: object, exc: bool = False, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("chat.services", logging.WARNING, __file__, 1, message, args, None)
    if exc:
        try:
            raise ValueError("the cause")
        except ValueError:
            record.exc_info = sys.exc_info()
    for key, value in extra.items():
        setattr(record, key, value)
    ContextFilter().filter(record)
    text = JsonFormatter().format(record)
    assert "\n" not in text  # one line, whatever it holds
    return json.loads(text)


def test_the_fields_of_a_line() -> None:
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    entry = line(
        "conversation %s ended by %s",
        7,
        "Zoë",
        event="conversation.ended",
        conversation_id=7,
        client_id=key,
        when=datetime(2026, 12, 5, tzinfo=UTC),
        nothing=None,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry.pop("time"))
    assert entry == {
        "level": "WARNING",
        "logger": "chat.services",
        "message": "conversation 7 ended by Zoë",
        "event": "conversation.ended",
        "conversation_id": 7,
        "client_id": str(key),
        "when": "2026-12-05 00:00:00+00:00",
    }


def test_the_request_or_socket_id_only_when_there_is_one() -> None:
    token = request_id.set("req-1")
    try:
        assert line("hello")["request_id"] == "req-1"
    finally:
        request_id.reset(token)
    token = socket_id.set("sock-2")
    try:
        entry = line("hello")
    finally:
        socket_id.reset(token)
    assert entry["socket_id"] == "sock-2"
    assert "request_id" not in entry


def test_an_exception_is_one_string() -> None:
    entry = line("failed", exc=True)
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: the cause")
    assert entry["message"] == "failed"


def test_an_exception_with_ids_and_extras_keeps_every_key() -> None:
    token = request_id.set("req-3")
    try:
        entry = line("failed", exc=True, event="mail.failed", email_id=4, stack_info="Stack: here")
    finally:
        request_id.reset(token)
    assert set(entry) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "event",
        "email_id",
        "exception",
        "stack",
    }
    assert (entry["request_id"], entry["email_id"], entry["stack"]) == ("req-3", 4, "Stack: here")


def test_an_exception_formatted_before_is_still_there() -> None:
    record = logging.LogRecord("chat.services", logging.ERROR, __file__, 1, "failed", (), None)
    try:
        raise ValueError("the cause")
    except ValueError:
        record.exc_info = sys.exc_info()
    logging.Formatter().format(record)  # another handler's formatter caches exc_text
    record.exc_info = None
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exception"].endswith("ValueError: the cause")


def test_an_extra_field_does_not_replace_the_lines_own() -> None:
    entry = line("hello", level="shouting", time="yesterday", logger="someone")
    assert (entry["level"], entry["logger"]) == ("WARNING", "chat.services")
    assert entry["time"].endswith("+00:00")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes in production, as JSON lines, into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_honours_x_request_id_and_every_line_carries_it(
    json_lines: io.StringIO, inbox: Inbox
) -> None:
    client = Client()
    session = client.post(f"/widget/{inbox.public_key}/session", HTTP_X_REQUEST_ID="lb-1234.abc")
    assert session["X-Request-ID"] == "lb-1234.abc"
    token = session.json()["token"]
    response = client.post(
        f"/widget/{inbox.public_key}/messages",
        {"body": "Hello?", "client_id": str(uuid.uuid4())},
        HTTP_X_VISITOR_TOKEN=token,
        HTTP_X_REQUEST_ID="lb-5678",
    )
    assert response.status_code == 201
    lines = parsed(json_lines)
    created = [line for line in lines if line.get("event") == "conversation.created"]
    assert len(created) == 1, lines
    assert created[0]["request_id"] == "lb-5678"
    assert created[0]["conversation_id"] == Conversation.objects.get().pk
    assert created[0]["level"] == "INFO"
    assert created[0]["logger"] == "chat.services"


def test_a_malformed_request_id_is_replaced_by_one_of_ours(inbox: Inbox) -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="a b\tc" + "x" * 200)
    given = response["X-Request-ID"]
    assert len(given) == 32
    int(given, 16)
    assert Client().get("/healthz")["X-Request-ID"] != given


async def test_socket_lines_carry_the_socket_id_open_to_close(
    json_lines: io.StringIO, agent: Agent
) -> None:
    user = await sync_to_async(lambda: agent.user)()
    cookie = await sync_to_async(session_cookie)(user)
    socket = WebsocketCommunicator(application, "/ws/agents/", headers=[*SAME_ORIGIN, cookie])
    connected, _ = await socket.connect()
    assert connected
    # The lists, Alice's own presence, then the probe of the real-time path came back (and the
    # database's, in either order).
    while (frame := await socket.receive_json_from(timeout=5))["type"] != "realtime":
        assert frame["type"] == "html" or frame == {"type": "database", "state": "up"}
    assert frame == {"type": "realtime", "state": "up"}
    await socket.disconnect()
    lines = parsed(json_lines)
    opened = next(line for line in lines if line.get("event") == "socket.opened")
    closed = next(line for line in lines if line.get("event") == "socket.closed")
    assert opened["socket_id"] == closed["socket_id"]
    assert opened["agent_id"] == agent.pk
    assert opened["kind"] == "agent"
    assert "code" in closed
    status = [line for line in lines if line.get("event") == "agent.status"]
    assert status, "connecting made Alice online"
    assert status[0]["socket_id"] == opened["socket_id"]
    assert (status[0]["was"], status[0]["now"]) == ("offline", "online")


def test_a_rate_limit_refusal_and_an_error_are_one_json_line_each(
    json_lines: io.StringIO, settings: Any
) -> None:
    settings.SUPPORTDESK_RATE_LIMITS = {**settings.SUPPORTDESK_RATE_LIMITS, "session_ip": "1/60"}
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("chat.events").exception("publish failed")
    key = uuid.uuid4().hex
    ratelimit.hit("session_ip", key)
    ratelimit.hit("session_ip", key)
    lines = parsed(json_lines)
    error = next(line for line in lines if line["message"] == "publish failed")
    assert error["level"] == "ERROR"
    assert "ValueError: boom" in error["exception"]
    refusals = [line for line in lines if line.get("event") == "ratelimit.refused"]
    assert len(refusals) == 1
    assert refusals[0]["limit"] == "session_ip"
    assert key not in json.dumps(refusals)  # who was refused stays out of the logs


def test_text_lines_are_readable_and_carry_the_id() -> None:
    record = logging.LogRecord(
        "chat.services", logging.INFO, __file__, 1, "conversation created", (), None
    )
    record.request_id = "abc123"
    record.conversation_id = 7
    line = TextFormatter().format(record)
    assert " INFO chat.services [request_id=abc123] conversation created conversation_id=7" in line


def test_production_logging_is_json(settings: Any) -> None:
    """The settings' own choice: DEBUG off means JSON, unless SUPPORTDESK_LOG_FORMAT says."""
    assert settings.DEBUG is False
    assert settings.SUPPORTDESK_LOG_FORMAT == "json"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"


def test_psycopg_pools_reconnect_warnings_come_once_a_while(json_lines: io.StringIO) -> None:
    """A database outage made psycopg's pool log every failed reconnect: four lines a second.
    The configured logging lets one a window through, the next saying how many it held back."""
    logger = logging.getLogger("psycopg.pool")
    # One per configuration of logging (Django's, and any a test made again).
    filters = [f for f in logger.filters if isinstance(f, Repeats)]
    assert filters
    for repeats in filters:
        repeats.seen.clear()
    for _ in range(5):
        logger.warning("error connecting in %r: %s", "pool-1", "connection refused")
    lines = [line for line in parsed(json_lines) if line["logger"] == "psycopg.pool"]
    assert len(lines) == 1
    for repeats in filters:
        repeats.seconds = 0.05
    try:
        time.sleep(0.1)
        logger.warning("error connecting in %r: %s", "pool-1", "connection refused")
    finally:
        for repeats in filters:
            repeats.seconds = 10.0
    lines = [line for line in parsed(json_lines) if line["logger"] == "psycopg.pool"]
    assert len(lines) == 2
    assert lines[1]["held_back"] == 4
