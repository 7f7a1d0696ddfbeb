"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_noop

# Every string the pages' scripts show, in English: the scripts look each one up in the page's
# `sd-text` dictionary (Realtime.t) and fall back to the English. Add new ones here.
JS_STRINGS = [
    gettext_noop("Connecting…"),
    gettext_noop("Connected"),
    gettext_noop("Live"),
    gettext_noop("Reconnecting…"),
    gettext_noop("You are offline — messages will be sent when you reconnect"),
    gettext_noop("Signed out"),
    gettext_noop("Back online"),
    gettext_noop("New messages ↓"),
    gettext_noop("Today"),
    gettext_noop("Yesterday"),
    gettext_noop("Sending…"),
    gettext_noop("Sending delayed — retrying…"),
    gettext_noop("Waiting for network…"),
    gettext_noop("Not sent — "),
    gettext_noop("Not sent"),
    gettext_noop("Not sent:"),
    gettext_noop("Retry"),
    gettext_noop("Read"),
]


def realtime(request: HttpRequest) -> dict[str, int]:
    """How often the pages' sockets send a heartbeat (static/supportdesk/realtime.js)."""
    return {"heartbeat_ms": int(settings.SUPPORTDESK_HEARTBEAT_SECONDS * 1000)}


def js_text(request: HttpRequest) -> dict[str, dict[str, str]]:
    """The scripts' strings in the request's language (see JS_STRINGS)."""
    return {"js_text": {text: gettext(text) for text in JS_STRINGS}}
