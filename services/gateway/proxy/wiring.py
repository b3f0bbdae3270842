"""The proxy's three look-ups over the gateway's read models, for the composition root to pass to ``proxy_router``.

The connect rule follows ``api.seqera.studio_access``: a studio in a workspace the caller does not take part in is
hidden (404); a private studio is its creator's alone: workspace admins (and system administrators) see it and may
start, stop and delete it, but connecting is 403 for them and 404 for everybody else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from libs.contracts.errors import Forbidden, NotFound, Unauthenticated
from libs.contracts.studio_state import State
from services.gateway.access import auth
from services.gateway.access.auth import Principal
from services.gateway.domain.permissions import Role, can
from services.gateway.read import studios as queries
from services.gateway.read.studios import Db

CONNECT = "studio:connect"


def lookup_studio(db: Db) -> Callable[[str], Awaitable[State | None]]:
    async def lookup(session_id: str) -> State | None:
        return await queries.studio(db, session_id)

    return lookup


def token_authenticator(db: Db) -> Callable[[str], Awaitable[Principal | None]]:
    async def authenticate(token: str) -> Principal | None:
        try:
            return await auth.authenticate(db, token)
        except Unauthenticated:
            return None

    return authenticate


def connect_rule(user: Principal, role: Role | None, state: State) -> None:
    """Pure: raises ``NotFound`` (hidden) or ``Forbidden`` unless ``user`` may connect to ``state``."""
    hidden = NotFound(f"Studio {state.session_id} not found")
    if role is None or not can(role, "studio:read"):
        raise hidden
    if state.is_private and str(user.user_id) != state.user_id:
        if can(role, "studio:admin"):
            raise Forbidden(f"Studio {state.session_id} is private: only its creator can connect to it")
        raise hidden
    if not can(role, CONNECT):
        raise Forbidden(f"Your role '{role.value}' does not allow connecting to studios")
    if not user.allows(CONNECT):
        raise Forbidden(f"This token's scopes do not include '{CONNECT}'")


def connect_permission(db: Db) -> Callable[[Principal, State], Awaitable[bool]]:
    async def can_connect(user: Principal, state: State) -> bool:
        try:
            role = await auth.role_in(db, user, int(state.workspace_id))
        except (NotFound, ValueError):
            raise NotFound(f"Studio {state.session_id} not found") from None
        connect_rule(user, role, state)
        return True

    return can_connect
