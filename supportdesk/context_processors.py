"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_noop

# Every string the pages' scripts show, in English: the scripts look each one up in the page's
# `sd-text` dictionary (`t` in static/supportdesk/text.js) and fall back to the English. Add new
# ones here.
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
    # Files (static/supportdesk/uploads.js); %s: a file's name, or a number or size.
    gettext_noop("Attach files"),
    gettext_noop("Uploading %s"),
    gettext_noop("Remove %s"),
    gettext_noop("Upload failed."),
    gettext_noop("Upload interrupted."),
    gettext_noop("At most %s files a message."),
    gettext_noop("%s is empty."),
    gettext_noop("%s is larger than %s."),
    gettext_noop("Wait until the files have uploaded."),
    gettext_noop("file"),
    gettext_noop("Close"),
]


def realtime(request: HttpRequest) -> dict[str, int]:
    """How often the pages' sockets send a heartbeat (static/supportdesk/realtime/socket.js), and
    the limits the composers' file uploads check before sending (static/supportdesk/uploads.js)."""
    return {
        "heartbeat_ms": int(settings.SUPPORTDESK_HEARTBEAT_SECONDS * 1000),
        "upload_max_bytes": settings.SUPPORTDESK_UPLOAD_MAX_BYTES,
        "upload_max_files": settings.SUPPORTDESK_UPLOAD_MAX_FILES,
    }


def js_text(request: HttpRequest) -> dict[str, dict[str, str]]:
    """The scripts' strings in the request's language (see JS_STRINGS)."""
    return {"js_text": {text: gettext(text) for text in JS_STRINGS}}
