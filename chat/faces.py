"""Faces in the widget: an agent's photo or initials on a colour of their own, the team's
faces before anyone has joined, the inbox's logo beside its greeting, and an honest "typically
replies in …" from the inbox's real first responses.

Who works in an inbox and who is online is the agents' domain, a layer above this one
(docs/ARCHITECTURE.md): the agents' app hands its answers in when it starts (`agents.apps`,
as for `chat.availability`), so the widget asks without chat importing agents.

Images are served through views (chat.views.inbox_logo, agent_face) that read the storage,
so they work with the S3 storage too, with the headers of chat.attachments: never sniffed,
sandboxed, and never anything but an image the admin uploaded through an ImageField.
"""

from __future__ import annotations

import mimetypes
import statistics
import time
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chat.attachments import FILE_CSP
from chat.models import Conversation

# Backgrounds of initials, each dark enough for white text (WCAG AA, 4.5:1:
# tests/chat/test_faces.py). app.css has the same list as `.face--0` … `.face--9`.
PALETTE = (
    "#c92a2a", "#a61e4d", "#862e9c", "#5f3dc4", "#364fc7",
    "#1864ab", "#0b7285", "#087f5b", "#2b7a3b", "#b03d0c",
)  # fmt: skip


def face_colour(name: str) -> int:
    """The index in PALETTE of a name's colour: the same name, the same colour, everywhere."""
    return zlib.crc32(name.strip().casefold().encode()) % len(PALETTE)


def initials(name: str) -> str:
    """Up to two letters: the first of the first and of the last word ("Alice Martin": "AM");
    "?" for a name without a letter or digit (marks and directional controls show nothing)."""
    words = [
        first
        for word in name.split()
        if (first := next((c for c in word if unicodedata.category(c)[0] in "LN"), None))
    ]
    if not words:
        return "?"
    return (words[0] + (words[-1] if len(words) > 1 else "")).upper()


def initials_svg(name: str) -> str:
    """A round avatar of the name's initials on its colour, as an SVG image."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f'<circle cx="32" cy="32" r="32" fill="{PALETTE[face_colour(name)]}"/>'
        '<text x="32" y="33" text-anchor="middle" dominant-baseline="middle" fill="#fff" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="26" '
        f'font-weight="600">{escape(initials(name))}</text></svg>'
    )


@dataclass(frozen=True)
class Face:
    agent_id: int
    name: str
    photo: bool  # an uploaded photo (else: initials)


# "Who of this inbox is online now?" (inbox id, how many): a few of them, for the header.
TeamFaces = Callable[[int, int], list[Face]]
# "Which agent is this, if they may appear in this inbox?" (inbox id, agent id): their name and
# photo (a stored file, or None), or None.
AgentFace = Callable[[int, int], tuple[str, FieldFile | None] | None]


def _nobody(inbox_id: int, limit: int) -> list[Face]:
    return []


def _no_agent(inbox_id: int, agent_id: int) -> tuple[str, FieldFile | None] | None:
    return None


team_faces: TeamFaces = _nobody
agent_face: AgentFace = _no_agent


def face_lookups_set(*, team: TeamFaces, agent: AgentFace) -> None:
    """Called once by the agents' app at start-up."""
    global team_faces, agent_face
    team_faces, agent_face = team, agent


# Reply times: the median of the first responses of chats started in this window, at least
# this many of them (fewer say nothing honest), remembered for a while (the widget page asks).
REPLY_WINDOW = timedelta(days=14)
REPLY_MIN_SAMPLES = 3
REPLY_SAMPLE_LIMIT = 500
REPLY_CACHE_SECONDS = 300


# inbox id -> (time.monotonic() when computed, the median or None): per process, so a widget
# load costs no query and no cache round trip, and a cache outage breaks nothing.
_reply_times: dict[int, tuple[float, float | None]] = {}
_REPLY_TIMES_MAX = 10_000


def typical_reply_seconds(inbox_id: int) -> float | None:
    """The median time to the first answer of a person in the inbox's chats of the last
    REPLY_WINDOW (`Conversation.first_response_at - created_at`, the newest
    REPLY_SAMPLE_LIMIT), or None without enough of them. Remembered per inbox and process for
    REPLY_CACHE_SECONDS."""
    now = time.monotonic()
    remembered = _reply_times.get(inbox_id)
    if remembered is not None and now - remembered[0] < REPLY_CACHE_SECONDS:
        return remembered[1]
    rows = (
        Conversation.objects.filter(
            inbox_id=inbox_id,
            created_at__gte=timezone.now() - REPLY_WINDOW,
            first_response_at__isnull=False,
        )
        .order_by("-created_at")
        .values_list("created_at", "first_response_at")[:REPLY_SAMPLE_LIMIT]
    )
    seconds = [max(0.0, (answered - created).total_seconds()) for created, answered in rows]
    median = statistics.median(seconds) if len(seconds) >= REPLY_MIN_SAMPLES else None
    if len(_reply_times) >= _REPLY_TIMES_MAX:
        _reply_times.clear()
    _reply_times[inbox_id] = (now, median)
    return median


def reply_times_forget() -> None:
    """Forget the remembered reply times (tests)."""
    _reply_times.clear()


def reply_time_text(seconds: float | None) -> str:
    """ "Typically replies in a few minutes", rounded the way a person says it; "" for None."""
    if seconds is None:
        return ""
    minutes = seconds / 60
    if minutes < 1:
        return _("Typically replies in under a minute")
    if minutes < 5:
        return _("Typically replies in a few minutes")
    if minutes < 55:
        n = int(5 * round(minutes / 5))
        return ngettext(
            "Typically replies in about %(n)d minute",
            "Typically replies in about %(n)d minutes",
            n,
        ) % {"n": n}
    if minutes < 90:
        return _("Typically replies in about an hour")
    if minutes < 60 * 20:
        n = round(minutes / 60)
        return ngettext(
            "Typically replies in about %(n)d hour", "Typically replies in about %(n)d hours", n
        ) % {"n": n}
    return _("Typically replies within a day or two")


def image_response(field: FieldFile | None) -> FileResponse:
    """An uploaded image (a logo, an agent's photo) from the storage, with the headers of
    chat.attachments: never sniffed, sandboxed. Public (the widget shows it to anyone on the
    customer's site) and cached for a day: its URL names the stored file, so a new upload gets
    a new URL."""
    if not field:
        raise Http404("No image.")
    content_type = mimetypes.guess_type(field.name)[0] or ""
    if not content_type.startswith("image/") or content_type == "image/svg+xml":
        raise Http404("No image.")
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404("No image.") from None
    response = FileResponse(handle, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "public, max-age=86400"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def initials_response(name: str) -> HttpResponse:
    response = HttpResponse(initials_svg(name), content_type="image/svg+xml")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "public, max-age=300"  # a photo uploaded later shows soon
    return response


def version_of(field: FieldFile | None) -> str:
    """A short tag of the stored file, for its URL (`?v=`): a new upload, a new URL."""
    return format(zlib.crc32(field.name.encode()), "x") if field else ""
