"""Which headers cross the proxy, in each direction. Pure: raw ASGI header lists in, lists out.

Upstream, the tool sees the browser's headers (``Host`` and ``Origin`` kept, so tools that check the origin of a
request against its host, as Jupyter does, still agree) minus hop-by-hop headers, minus the user's Studios
credentials (``Authorization`` and the ``studios_token`` cookie), plus the per-session secret and ``X-Forwarded-*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RawHeaders = Sequence[tuple[bytes, bytes]]

COOKIE = "studios_token"
#: Every cookie that is a Studios credential (``proxy.origin``'s studio session too): none reaches a tool.
CREDENTIAL_COOKIES = (COOKIE, "studios_session")
SECRET_HEADER = b"x-studios-secret"

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
#: Never forwarded upstream: replaced by the proxy (credentials, forwarding) or made by the WebSocket client.
_REPLACED = frozenset({b"authorization", SECRET_HEADER, b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
_WS_HANDSHAKE = frozenset({b"host", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                           b"sec-websocket-protocol", b"sec-websocket-accept", b"content-length"})


@dataclass(frozen=True)
class Forwarding:
    """Who asked, as the proxy saw it: the peer's address, the scheme (http/https) and the ``Host`` asked for."""

    client: str | None
    scheme: str
    host: str | None


def _connection_listed(headers: RawHeaders) -> frozenset[bytes]:
    """Headers named in ``Connection`` are hop-by-hop too (RFC 9110 §7.6.1)."""
    named = (t.strip().lower() for k, v in headers if k.lower() == b"connection" for t in v.split(b","))
    return frozenset(n for n in named if n)


def without_cookie(value: bytes, name: str = COOKIE) -> bytes:
    """A ``Cookie`` header value minus one cookie (the others, e.g. a tool's own ``_xsrf``, go through)."""
    kept = [c for c in value.split(b";") if c.strip().partition(b"=")[0].strip() != name.encode()]
    return b";".join(kept).strip()


def _first(headers: RawHeaders, name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


def forwarded(headers: RawHeaders, via: Forwarding) -> list[tuple[bytes, bytes]]:
    """``X-Forwarded-*``: appended to (For) or kept from (Proto, Host) a proxy in front of the gateway."""
    prior_for = _first(headers, b"x-forwarded-for")
    chain = [p for p in (prior_for, via.client.encode() if via.client else None) if p]
    out = [(b"x-forwarded-for", b", ".join(chain))] if chain else []
    out.append((b"x-forwarded-proto", _first(headers, b"x-forwarded-proto") or via.scheme.encode()))
    host = _first(headers, b"x-forwarded-host") or (via.host.encode() if via.host else None)
    return out + ([(b"x-forwarded-host", host)] if host else [])


def credentials(secret: str) -> list[tuple[bytes, bytes]]:
    """What the tool checks: the per-session secret, also as Jupyter's ``Authorization: token``."""
    return [(SECRET_HEADER, secret.encode()), (b"authorization", b"token " + secret.encode())]


def upstream_headers(headers: RawHeaders, secret: str, via: Forwarding, *, websocket: bool = False
                     ) -> list[tuple[bytes, bytes]]:
    """The request headers the tool receives."""
    drop = HOP_BY_HOP | _connection_listed(headers) | _REPLACED | (_WS_HANDSHAKE if websocket else frozenset())
    out: list[tuple[bytes, bytes]] = []
    for key, value in headers:
        k = key.lower()
        if k in drop:
            continue
        if k == b"cookie":
            for name in CREDENTIAL_COOKIES:
                value = without_cookie(value, name)
            if not value:
                continue
        out.append((k, value))
    return out + forwarded(headers, via) + credentials(secret)


def downstream_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response headers the browser receives: all but hop-by-hop ones (repeated ``Set-Cookie`` kept)."""
    listed = list(headers)
    drop = HOP_BY_HOP | _connection_listed(listed)
    return [(k.lower(), v) for k, v in listed if k.lower() not in drop]


def without_query_param(query: bytes, name: str) -> bytes:
    """A query string minus one parameter, every other byte unchanged (no re-encoding)."""
    key = name.encode()
    return b"&".join(p for p in query.split(b"&") if p and p.partition(b"=")[0] != key)
