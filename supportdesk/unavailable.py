"""The database is unreachable, or a statement waited too long: answer "try again", not 500.

PostgreSQL stopped or restarting, the pool without a connection for
SUPPORTDESK_DB_POOL_TIMEOUT_SECONDS, a row lock held past SUPPORTDESK_DB_LOCK_TIMEOUT_SECONDS, a
statement past SUPPORTDESK_DB_STATEMENT_TIMEOUT_SECONDS (supportdesk.postgres): each reaches the
code as Django's OperationalError (or InterfaceError, a connection already closed). Nothing was
stored, and the same request a little later will be; so an HTTP request gets 503 with
Retry-After (`server_error`, the desk's handler500) and a socket's `send` frame a `refused`
with status 503 and `retry_after` (chat.consumers). The widget's outbox waits that out and says
"Sending delayed" meanwhile; the dashboard names the database in its banner
(supportdesk.hub.probe_database).
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.utils.translation import gettext

from supportdesk import metrics
from supportdesk.errors import server_error_page

RETRY_AFTER_SECONDS = 2
CODE = "database_unavailable"


def is_unavailable(error: BaseException | None) -> bool:
    """Whether `error` means "the database cannot answer now" (a retry can succeed)."""
    return isinstance(error, OperationalError | InterfaceError)


def message() -> str:
    return gettext("The desk cannot reach its database right now. Nothing was lost; try again.")


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """JSON for scripts (the widget, the composer), a page that reloads itself for a browser
    that navigated here. Rendered without a template: templates' context reads the session,
    which is in the database."""
    metrics.DATABASE_UNAVAILABLE.labels(where="http").inc()
    response: HttpResponse
    if "text/html" in request.headers.get("Accept", "") and not request.headers.get("HX-Request"):
        response = HttpResponse(
            format_html(
                '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="{}">'
                "<title>{}</title><p>{}</p>",
                RETRY_AFTER_SECONDS * 5,
                gettext("Try again in a moment"),
                message(),
            ),
            status=503,
        )
    else:
        response = JsonResponse(
            {"error": CODE, "message": message(), "retry_after": RETRY_AFTER_SECONDS}, status=503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while handling the exception a request raised, so the
    exception is the one being handled. A database that cannot answer gets 503 with Retry-After;
    anything else the desk's 500 page (supportdesk.errors)."""
    if is_unavailable(sys.exc_info()[1]):
        return unavailable_response(request)
    return server_error_page()
