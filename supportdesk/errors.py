"""The desk's error pages: 403, 404 and 500 in the desk's look, each saying what to do next.

403 and 404 (handler403, handler404) render `403.html` / `404.html` with the request, like any
page; an htmx request gets only the page's card (`#card`), which htmx swaps where the answer was
going (a conversation the agent lost access to opens as "You don't have access" in the
workspace). A 403 is an ordinary answer, not a fault: it is logged as one line without a
traceback (supportdesk.logs.ClientErrorsWithoutTraceback).

500 (`server_error_page`, called by supportdesk.unavailable.server_error, the desk's handler500)
renders `500.html` with nothing of the request and without the database: whatever broke may be
either. If even that fails, a few lines of plain HTML say the same.
"""

from __future__ import annotations

import logging

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseServerError,
)
from django.template import loader
from django.utils.html import format_html
from django.utils.translation import gettext

from supportdesk.logs import request_id

logger = logging.getLogger(__name__)


def _template(request: HttpRequest, name: str) -> str:
    return f"{name}#card" if request.headers.get("HX-Request") else name


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403. The exception's message, when there is one, is a sentence written for the
    person refused ("You don't have access to Analytics. …"): the page shows it."""
    message = str(exception) if exception is not None else ""
    template = loader.get_template(_template(request, "403.html"))
    return HttpResponseForbidden(template.render({"message": message}, request))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404. The exception's message is not shown: it may name a model or a query."""
    template = loader.get_template(_template(request, "404.html"))
    return HttpResponseNotFound(template.render({"request_path": request.path}, request))


def server_error_page() -> HttpResponse:
    """The 500 page, rendered without the request (no context processors, no session, no
    database); it shows the request's id, which the server's log line carries too."""
    rid = request_id.get()
    try:
        body = loader.get_template("500.html").render({"request_id": rid})
    except Exception:  # the page must come out whatever broke (a template, the static files)
        logger.exception("The 500 page could not be rendered; answered with plain HTML")
        body = format_html(
            '<!doctype html><meta charset="utf-8"><title>{}</title><h1>{}</h1><p>{}</p>'
            '<p><a href="/">{}</a></p>',
            gettext("Something went wrong"),
            gettext("Something went wrong on our side"),
            gettext("Try again in a moment."),
            gettext("Back to the dashboard"),
        )
    return HttpResponseServerError(body)
