"""Where a webhook may be sent (SSRF, docs/SECURITY.md, "Webhooks").

A webhook URL is typed by an admin, and the desk then makes requests to it from inside the
network it runs in: without a check, a URL could reach the cloud's metadata service
(169.254.169.254), the database, or an admin page on localhost. So the URL's host is resolved
and every address it resolves to must be a public one (`ipaddress`'s `is_global`, and not
multicast); loopback, private (RFC 1918, unique-local IPv6), link-local, CGNAT, reserved and
unspecified addresses are refused, unless both the server's
`SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE` and the endpoint's `allow_private_network` say so.

The check runs when the admin saves the URL and again before every delivery, and the request
then goes to the very address that was checked (`Target.ip`; the name is kept for the Host
header and TLS), so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot send it elsewhere. Only http and https.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    """The URL may not be requested: the reason, for the admin and the delivery's log."""


class Target(NamedTuple):
    """A checked URL: the address to connect to, and what the request names."""

    url: str  # with the checked address in place of the host name
    host: str  # the Host header: the name (and port) as written in the URL
    sni_hostname: str | None  # for https: the name TLS sends and the certificate must match
    ip: str


def is_public(address: Address) -> bool:
    """Whether an address is on the public internet (see the module)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def private_allowed(endpoint_allows: bool) -> bool:
    """A private address needs both the server's switch and the endpoint's flag."""
    return bool(endpoint_allows and settings.SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE)


def resolve(url: str, *, allow_private: bool) -> Target:
    """The checked target of `url`, or UnsafeTarget. Resolves the host (a blocking DNS
    look-up: call it from a worker, not an event loop)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"Not a valid URL: {exc}") from None
    if parts.scheme not in {"http", "https"}:
        raise UnsafeTarget("Only http and https URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise UnsafeTarget("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeTarget("The URL must not hold a user name or password.")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _addresses(host, port)
    refused = [a for a in addresses if not is_public(a)]
    if refused and not allow_private:
        raise UnsafeTarget(
            f"{host} resolves to {refused[0]}, a loopback, private, link-local or otherwise "
            "non-public address; webhooks are not sent there unless the server allows it "
            "(SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE) and the endpoint does (allow private network)."
        )
    ip = addresses[0]
    literal = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
    netloc = f"{literal}:{port}"
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host=parts.netloc.rsplit("@", 1)[-1],
        sni_hostname=host if parts.scheme == "https" else None,
        ip=str(ip),
    )


def _addresses(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"{host} could not be resolved: {exc}") from None
    found: list[Address] = []
    for info in infos:
        # A scoped IPv6 address ("fe80::1%eth0") is link-local: the scope goes, the check stays.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnsafeTarget(f"{host} has no address.")
    return found
