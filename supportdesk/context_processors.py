"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def realtime(request: HttpRequest) -> dict[str, int]:
    """How often the pages' sockets send a heartbeat (static/supportdesk/realtime.js)."""
    return {"heartbeat_ms": int(settings.SUPPORTDESK_HEARTBEAT_SECONDS * 1000)}
