"""Socket origin check: a socket is opened only by a page of the desk's own origin.

Both sockets come from the desk's own pages: the dashboard, and the widget's iframe, which the
desk serves (the customer's page only frames it). So a socket's Origin must be the origin the
socket itself was asked for: same scheme, host and port (RFC 6454), the host being one of
ALLOWED_HOSTS. A page anywhere else, even on the desk's host name at another port or over
plain http (issue 16: `http://127.0.0.1:9999` opened the agent socket with the agent's cookie),
has no reason to open one, and is refused. CSRF_TRUSTED_ORIGINS are accepted too, as for
HTTP.

Behind a proxy that terminates TLS, the socket arrives as plain `ws`; with
TRUST_X_FORWARDED_PROTO its `X-Forwarded-Proto: https` makes it `https` (as Django's
SECURE_PROXY_SSL_HEADER does for requests). The proxy must pass the browser's Host as it was,
with its port if not the scheme's default (nginx: `proxy_set_header Host $http_host` for a desk
on a non-default port; deploy/nginx serves 443).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized(scheme: str, netloc: str) -> str | None:
    """`scheme://host:port` with the default port spelled out and the host lower-cased, or None
    if it is not an http(s) origin."""
    if scheme not in DEFAULT_PORTS or not netloc:
        return None
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    if not parts.hostname or parts.username or parts.password or parts.path:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host.lower()}:{port}"


def allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


def desk_origin(scope: dict[str, Any]) -> str | None:
    """The origin this socket was asked for (its scheme and Host), if the host is allowed."""
    headers = {name: value.decode("latin-1") for name, value in scope.get("headers", [])}
    host = headers.get(b"host", "")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts()):
        return None
    secure = scope.get("scheme") in ("wss", "https")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy and not secure:
        name = proxy[0].removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        secure = headers.get(name, "").split(",")[0].strip() == proxy[1]
    return normalized("https" if secure else "http", host)


def origin_of(url: str) -> str | None:
    """`normalized` for an origin written as a URL (`https://desk.example.com`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return normalized(parts.scheme, parts.netloc) if not parts.path else None


@lru_cache(maxsize=4)
def trusted_origins(configured: tuple[str, ...]) -> frozenset[str | None]:
    """CSRF_TRUSTED_ORIGINS normalized, once per value of the setting."""
    return frozenset(origin_of(origin) for origin in configured)


def origin_allowed(scope: dict[str, Any]) -> bool:
    origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
    if len(origins) != 1:
        return False  # none (not a browser), or two (which one would the browser mean?)
    try:
        given = origin_of(origins[0].decode("latin-1"))
    except UnicodeDecodeError:
        return False
    if given is None:
        return False
    return given == desk_origin(scope) or given in trusted_origins(
        tuple(settings.CSRF_TRUSTED_ORIGINS)
    )


class AllowedHostsOriginValidator:
    """ASGI middleware: refuse (HTTP 403 at the handshake) a socket not opened by a page of the
    desk's own origin (see the module). Settings are read on every connection."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise ValueError("The origin check is for sockets")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
