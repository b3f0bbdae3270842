"""Where a studio is served: its own origin ``<sessionId>.<domain>`` (subdomain mode, the default) or
``/connect/<sessionId>/`` on the gateway's origin (path mode), and the paths its tool sees.

Subdomain mode isolates studios from each other: script in one studio's page is cross-origin to every other studio
(and to the gateway), so the browser never lets it read their answers. Path mode is for operators who cannot have a
wildcard domain; it gives no isolation between studios.

``StudioHosts`` is the ASGI middleware that routes by ``Host``: a request for ``<sessionId>.<domain>`` is handed to
the studio-origin routes (``ORIGIN_PREFIX``), its ``raw_path`` untouched (that is what the tool gets); the gateway's
own routes answer every other host. Pure functions below say which path the tool receives: tools that take a base
path (JupyterLab's ``base_url``) always get ``/connect/<id>/...`` (so a session survives a change of mode), the
others get the path under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from libs.contracts.studio import StudioTemplate

ConnectMode = Literal["subdomain", "path"]
#: Internal route prefix of the studio-origin routes; only ``StudioHosts`` may put a request there.
ORIGIN_PREFIX = "/_studio-origin"
#: Tools known to serve under the prefix they are given when a template does not say (templates before the flag).
_TAKES_BASE_PATH = frozenset({"jupyter", "http-echo"})
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def hostname(host: str) -> str:
    """``Host`` minus its port, lower case (``[::1]:80`` -> ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class StudioOrigins:
    """The connect mode and the wildcard domain (``studios.example.org``, or ``localhost:8080`` by default)."""

    mode: ConnectMode = "path"
    domain: str = "localhost"

    @property
    def subdomains(self) -> bool:
        return self.mode == "subdomain"

    def origin(self, base_url: str, session_id: str) -> str:
        """``<scheme>://<sessionId>.<domain>``, the scheme the gateway's own (public) URL has."""
        scheme = urlsplit(base_url).scheme or "http"
        return f"{scheme}://{session_id.lower()}.{self.domain}"

    def studio_url(self, base_url: str, session_id: str) -> str:
        """``studioUrl``: where a browser opens the studio."""
        if self.subdomains:
            return self.origin(base_url, session_id) + "/"
        return f"{base_url.rstrip('/')}/connect/{session_id}/"

    def session_of(self, host: str | None) -> str | None:
        """The session id a ``Host`` header names, if it is one of the studio hosts (ports are not compared: a
        reverse proxy in front may change them)."""
        if not self.subdomains or not host:
            return None
        label, dot, rest = hostname(host).partition(".")
        if not dot or rest != hostname(self.domain) or not _LABEL.match(label):
            return None
        return label


def takes_base_path(template: StudioTemplate | None) -> bool:
    """Whether the tool serves under the ``/connect/<id>/`` prefix it is started with; the template says, else
    the tool's name does."""
    if template is None:
        return True
    return template.base_path if template.base_path is not None else template.tool in _TAKES_BASE_PATH


def prefix_of(session_id: str) -> bytes:
    return f"/connect/{session_id}".encode()


def tool_path(raw_path: bytes, session_id: str, *, base_path: bool, on_studio_origin: bool) -> bytes:
    """The path the tool gets for the path the browser asked for."""
    prefix = prefix_of(session_id)
    under = raw_path == prefix or raw_path.startswith(prefix + b"/")
    if base_path:
        return raw_path if under or not on_studio_origin else prefix + (raw_path or b"/")
    if not under:
        return raw_path or b"/"
    return raw_path[len(prefix):] or b"/"


def rewrite_location(value: bytes, session_id: str) -> bytes:
    """A tool served at ``/`` behind the path prefix redirects to ``/x``: send the browser to ``/connect/<id>/x``."""
    if value.startswith(b"/") and not value.startswith(b"//"):
        return prefix_of(session_id) + value
    return value


def session_path(raw_path: bytes, session_id: str) -> str:
    """The path under the prefix, for links from a studio's origin back to the gateway's entry point."""
    prefix = prefix_of(session_id)
    under = raw_path == prefix or raw_path.startswith(prefix + b"/")
    path = raw_path[len(prefix):] if under else raw_path
    return path.decode("latin-1") or "/"


class StudioHosts:
    """Routes ``<sessionId>.<domain>`` to ``ORIGIN_PREFIX/<sessionId>/...``; refuses that prefix on other hosts."""

    def __init__(self, app: ASGIApp, origins: StudioOrigins) -> None:
        self.app, self.origins = app, origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        session_id = self.origins.session_of(host)
        path: str = scope["path"]
        if session_id is not None:
            raw = scope.get("raw_path") or path.encode()
            scope = {**scope, "path": f"{ORIGIN_PREFIX}/{session_id}{path}", "raw_path": raw,
                     "studios.session_id": session_id}
        elif path == ORIGIN_PREFIX or path.startswith(ORIGIN_PREFIX + "/"):
            scope = {**scope, "path": "/_not-found" + path}  # nothing matches: the app's own 404
        await self.app(scope, receive, send)


def strip_for_tool(scope: Scope, state_template: StudioTemplate | None, session_id: str) -> bool:
    """Path mode: the tool's path for a ``/connect/<id>/...`` request, in ``scope`` (``raw_path`` is what is sent
    upstream). True when the prefix was taken off, so redirects from the tool need it put back."""
    if takes_base_path(state_template):
        return False
    raw = scope.get("raw_path") or scope["path"].encode()
    scope["raw_path"] = tool_path(raw, session_id, base_path=False, on_studio_origin=False)
    return True


def relocated(headers: list[tuple[bytes, bytes]], session_id: str) -> list[tuple[bytes, bytes]]:
    """Response headers with a path-only ``Location`` put back under the prefix (see ``rewrite_location``)."""
    return [(k, rewrite_location(v, session_id) if k == b"location" else v) for k, v in headers]
