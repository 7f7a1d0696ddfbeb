"""Structured logs: one JSON object a line in production, readable lines in development.

Every line carries the id of what it happened in: `request_id` for an HTTP request (the
client's X-Request-ID when well-formed, else a new one, sent back in the response) or
`socket_id` for a socket (set by the consumers on connect). Both live in context variables, so
code called from a request or a socket (services, selectors, `database_sync_to_async` threads,
`transaction.on_commit` callbacks) logs with the id without being handed it.

State changes are logged by the services, once each, when their transaction commits
(`log_on_commit`): a rolled-back change was never made and is never logged. Fields that say
what changed go in `extra` (`event`, `conversation_id`, ...): JSON lines carry them as keys,
text lines append them as key=value.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pythonjsonlogger.json

if TYPE_CHECKING:  # the settings import this module: nothing of Django's at import time
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from a client or proxy: short, and nothing that could forge a log line or a
# header (nginx's $request_id is 32 hex characters; UUIDs have dashes).
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
socket_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("socket_id", default=None)

# LogRecord's own attributes: anything else on a record came from `extra`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def new_id() -> str:
    return uuid.uuid4().hex


def incoming_request_id(value: str | None) -> str:
    """The client's id if well-formed, else a new one."""
    if value and WELL_FORMED_ID.fullmatch(value):
        return value
    return new_id()


def request_id_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """First in MIDDLEWARE: every line logged while the request runs carries its id."""

    def middleware(request: HttpRequest) -> HttpResponse:
        rid = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id.set(rid)
        try:
            response = get_response(request)
        finally:
            request_id.reset(token)
        response[REQUEST_ID_HEADER] = rid
        return response

    return middleware


@contextmanager
def socket_context(sid: str) -> Iterator[None]:
    token = socket_id.set(sid)
    try:
        yield
    finally:
        socket_id.reset(token)


def log_on_commit(logger: logging.Logger, message: str, /, **fields: Any) -> None:
    """Log a state change once its transaction commits (at once outside a transaction). The
    callback runs in the caller's context, so the line carries its request or socket id."""
    from django.db import transaction

    transaction.on_commit(lambda: logger.info(message, extra=fields))


class ContextFilter(logging.Filter):
    """Puts the current request or socket id on every record (on the handler, so records from
    any logger, Django's and libraries' included, get it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        if not hasattr(record, "socket_id"):
            record.socket_id = socket_id.get()
        return True


class Repeats(logging.Filter):
    """At most one line per `seconds` for each logger and message template; the next line let
    through carries `held_back`, how many were dropped meanwhile. For psycopg's pool, which
    logs every failed reconnect (four a second during a database outage)."""

    def __init__(self, seconds: float = 10.0) -> None:
        super().__init__()
        self.seconds = seconds
        self.seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        last, held = self.seen.get(key, (float("-inf"), 0))
        if now - last < self.seconds:
            self.seen[key] = (last, held + 1)
            return False
        self.seen[key] = (now, 0)
        if held:
            record.held_back = held
        return True


class ClientErrorsWithoutTraceback(logging.Filter):
    """django.request logs a refused request (403 for PermissionDenied, 400, ...) as a warning
    with the exception's traceback attached: many lines of stack for what is an ordinary answer
    (an agent following an Analytics link without the permission). On that logger, a 4xx line
    keeps its message, status and request id, without the traceback; a 5xx keeps everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and key not in ("request_id", "socket_id") and value is not None
    }


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """One JSON object a line (python-json-logger): time (UTC, milliseconds), level, logger,
    message, the request or socket id when there is one, the extra fields as keys, and the
    traceback of an exception as one string (the line stays one line)."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            json_default=str,
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # An extra field named like one of the line's own (extra={"level": ...}) does not replace
        # it: alerts and searches read these three.
        log_data.update(time=record.asctime, level=record.levelname, logger=record.name)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # An id that is not set and an extra field given as None say nothing: left out.
        return {key: value for key, value in log_data.items() if value is not None}


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [id] message key=value ...` for a developer's terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        head, _, rest = line.partition(f" {record.name} ")
        ids = [
            f"{key}={value}"
            for key in ("request_id", "socket_id")
            if (value := getattr(record, key, None))
        ]
        fields = " ".join(f"{key}={value}" for key, value in extra_fields(record).items())
        tag = f" [{' '.join(ids)}]" if ids else ""
        first, newline, tail = rest.partition("\n")
        return f"{head} {record.name}{tag} {first}{' ' + fields if fields else ''}{newline}{tail}"


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING for SUPPORTDESK_LOG_FORMAT ("json" or "text")."""
    if log_format not in ("json", "text"):
        raise ValueError(f"SUPPORTDESK_LOG_FORMAT must be json or text, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "supportdesk.logs.ContextFilter"},
            "repeats": {"()": "supportdesk.logs.Repeats"},
            "client_errors": {"()": "supportdesk.logs.ClientErrorsWithoutTraceback"},
        },
        "formatters": {
            "json": {"()": "supportdesk.logs.JsonFormatter"},
            "text": {"()": "supportdesk.logs.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context"],
            },
            # Counts every error logged, whoever logs it (supportdesk_errors_total).
            "errors": {"()": "supportdesk.metrics.ErrorCounter", "level": "ERROR"},
        },
        "root": {"handlers": ["console", "errors"], "level": level},
        "loggers": {
            # Through the root's handlers only: Django's own console handler would print its
            # lines a second time, unformatted, in development.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.channels.server": {"level": "WARNING"},
            # A 403 or 404 is an answer, not a fault: its line without a traceback.
            "django.request": {"filters": ["client_errors"]},
            # Every failed reconnect during a database outage: one line per 10 s is enough.
            "psycopg.pool": {"filters": ["repeats"]},
        },
    }
