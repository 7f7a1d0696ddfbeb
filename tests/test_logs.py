"""supportdesk.logs.JsonFormatter: the production log line, whatever formats it (python-json-logger
underneath): one JSON object with the same keys, the ids only when set, extras as keys, and an
exception's traceback as one string."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from supportdesk.logs import ContextFilter, JsonFormatter, request_id, socket_id


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
