"""Who may reach a running tool through the proxy: the token (header, query or cookie), the studio, the decision.

The order is fixed so answers leak nothing: no or a bad token is 401 whatever the studio; a studio the caller may
not see is 404 exactly as if it did not exist; one they see but may not connect to is 403; only then is a studio
that is not running a 409. ``admit`` is shared by the HTTP and the WebSocket routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from starlette.requests import HTTPConnection

from libs.contracts.errors import StudiosError
from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from libs.platform.session_keys import session_secret
from services.gateway.proxy.headers import COOKIE

QUERY_TOKEN = "access_token"


class ProxyUser(Protocol):
    """What the proxy needs of an authenticated user (``auth.Principal`` fits)."""

    @property
    def user_id(self) -> int | str: ...

    @property
    def user_name(self) -> str | None: ...


U = TypeVar("U", bound=ProxyUser)
Lookup = Callable[[str], Awaitable[State | None]]
#: A token to its user; None when the token is unknown, expired or revoked.
Authenticate = Callable[[str], Awaitable[U | None]]
#: False is a 403; raising a ``StudiosError`` (``NotFound`` to hide the studio, ``Forbidden``) answers with it.
CanConnect = Callable[[U, State], Awaitable[bool]]
Via = Literal["bearer", "query", "cookie"]
#: A running session's proxy secret (None: not known), see ``derived_secrets``.
SecretOf = Callable[[State], str | None]


@dataclass(frozen=True)
class Upstream:
    """Where the session's tool listens and the secret it demands."""

    host: str
    port: int
    secret: str


@dataclass(frozen=True)
class Denied:
    status: int
    message: str


@dataclass(frozen=True)
class Admitted(Generic[U]):
    user: U
    state: State
    upstream: Upstream
    token: str
    via: Via


def credential(conn: HTTPConnection) -> tuple[str, Via] | None:
    """The caller's Studios token: ``Authorization: Bearer``, else ``?access_token=``, else the cookie."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), "bearer"
    if query := conn.query_params.get(QUERY_TOKEN, "").strip():
        return query, "query"
    if cookie := conn.cookies.get(COOKIE, "").strip():
        return cookie, "cookie"
    return None


def derived_secrets(key: bytes) -> SecretOf:
    """The gateway's way: the run's secret from the key lifecycle derives it from (no event carries it)."""

    def secret_of(state: State) -> str | None:
        return session_secret(key, state.run_key)

    return secret_of


def handle_secret(state: State) -> str | None:
    """A secret the handle itself names: only for test fakes that build a ``State`` by hand; the gateway's
    composition root always passes ``derived_secrets``."""
    secret = (state.handle or {}).get("secret")
    return str(secret) if secret else None


def upstream_of(state: State, secret_of: SecretOf = handle_secret) -> Upstream | None:
    handle = state.handle or {}
    try:
        host, port = str(handle["host"]), int(handle["port"])
    except (KeyError, TypeError, ValueError):
        return None
    secret = secret_of(state)
    return Upstream(host, port, secret) if host and secret else None


async def admit(conn: HTTPConnection, session_id: str, lookup: Lookup, authenticate: Authenticate[U],
                can_connect: CanConnect[U], secret_of: SecretOf = handle_secret) -> Admitted[U] | Denied:
    found = credential(conn)
    if found is None:
        return Denied(401, "Authentication required: send 'Authorization: Bearer <token>', or open the studio's "
                           "URL once with '?access_token=<token>'")
    token, via = found
    user = await authenticate(token)
    if user is None:
        return Denied(401, "Invalid, expired or revoked token")
    state = await lookup(session_id)
    if state is None or state.deleted or not state.exists:
        return Denied(404, f"Studio {session_id} not found")
    try:
        if not await can_connect(user, state):
            return Denied(403, f"You may not connect to studio {session_id}")
    except StudiosError as e:
        return Denied(e.status, e.detail)
    if state.status is not StudioStatus.RUNNING:
        status = state.status.value if state.status else "unknown"
        return Denied(409, f"studio is not running (status: {status})")
    upstream = upstream_of(state, secret_of)
    if upstream is None:
        return Denied(502, f"Studio {session_id} is running but its tool's address is not known yet")
    return Admitted(user, state, upstream, token, via)
