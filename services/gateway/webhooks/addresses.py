"""The SSRF guard: a webhook may only reach public addresses, unless ``STUDIOS_WEBHOOKS_ALLOW_PRIVATE=true``.

The host is resolved once per attempt and the request is sent to the address that was checked (the ``Host``
header and TLS server name stay the URL's), so a name that resolves to a public address when checked and to
``127.0.0.1`` a moment later (DNS rebinding) cannot steer a delivery into the gateway's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from libs.contracts.errors import InvalidInput

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> addresses``; the default asks the system resolver
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class Refused(InvalidInput):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def private(address: IP) -> bool:
    """Loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class Target:
    """Where to send: ``url`` names the checked address; ``host`` and ``server_name`` are the original's."""

    url: str
    host: str
    server_name: str | None


def _netloc(address: str, port: int | None) -> str:
    shown = f"[{address}]" if ":" in address else address
    return shown if port is None else f"{shown}:{port}"


async def target(url: str, allow_private: bool, resolve: Resolver = system_resolver) -> Target:
    """The request's target for ``url``, or ``Refused``."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise Refused("url has no host", field="url")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IP | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        found = [str(literal)] if literal is not None else list(await resolve(host, port))
    except OSError as e:
        raise Refused(f"url's host {host} does not resolve: {e}", field="url") from e
    if not found:
        raise Refused(f"url's host {host} does not resolve", field="url")
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    if not allow_private and any(private(a) for a in addresses):
        raise Refused(f"url's host {host} is a private or loopback address; webhooks reach public addresses "
                      "only (STUDIOS_WEBHOOKS_ALLOW_PRIVATE=true allows others)", field="url")
    pinned = urlunsplit((parts.scheme, _netloc(str(addresses[0]), parts.port), parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and literal is not None:
        host_header = _netloc(host, parts.port)
    return Target(pinned, host_header, host if parts.scheme == "https" and literal is None else None)
