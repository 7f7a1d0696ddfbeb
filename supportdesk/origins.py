"""Socket origin check that follows ALLOWED_HOSTS as it is now."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class AllowedHostsOriginValidator(OriginValidator):
    """Refuse sockets whose Origin is not one of ALLOWED_HOSTS.

    Channels' factory of the same name copies ALLOWED_HOSTS once, when asgi.py is imported;
    this reads the setting on every connection, so it never disagrees with the HTTP side (and
    tests that change the setting see the change). A socket with no Origin is refused.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, [])

    @property
    def allowed_origins(self) -> list[str]:
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        return hosts

    @allowed_origins.setter
    def allowed_origins(self, value: list[str]) -> None:
        """The base class assigns its list here; ours is always read from settings."""
