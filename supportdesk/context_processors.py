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
    # Failed sends and the length counter (static/supportdesk/composer.js); %s: a number.
    gettext_noop("Edit"),
    gettext_noop("Remove"),
    gettext_noop("Not sent: this message is too long (%s characters; at most %s)."),
    gettext_noop("Not sent: this message is too long."),
    gettext_noop("Not sent: this chat has ended."),
    gettext_noop("%s characters left"),
    gettext_noop("1 character left"),
    gettext_noop("%s characters too many: shorten the message to send it."),
    gettext_noop("1 character too many: shorten the message to send it."),
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
    # Wait times on the dashboard's rows (static/supportdesk/dashboard/lists.js); %s: numbers.
    gettext_noop("< 1 min"),
    gettext_noop("%s min"),
    gettext_noop("%s h %s min"),
    gettext_noop("%s h"),
    gettext_noop("%s d"),
    gettext_noop("waiting %s"),
    gettext_noop("Waiting for %s"),
    # In-page confirmations (static/supportdesk/confirm.js).
    gettext_noop("Cancel"),
    gettext_noop("Confirm"),
]


def realtime(request: HttpRequest) -> dict[str, int]:
    """How often the pages' sockets send a heartbeat (static/supportdesk/realtime/socket.js), and
    the limits the composers check before sending: a message's length (composer.js) and file
    uploads (uploads.js)."""
    return {
        "heartbeat_ms": int(settings.SUPPORTDESK_HEARTBEAT_SECONDS * 1000),
        "message_max_length": settings.SUPPORTDESK_MAX_MESSAGE_LENGTH,
        "upload_max_bytes": settings.SUPPORTDESK_UPLOAD_MAX_BYTES,
        "upload_max_files": settings.SUPPORTDESK_UPLOAD_MAX_FILES,
    }


def js_text(request: HttpRequest) -> dict[str, dict[str, str]]:
    """The scripts' strings in the request's language (see JS_STRINGS)."""
    return {"js_text": {text: gettext(text) for text in JS_STRINGS}}
