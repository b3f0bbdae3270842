"""The proxy's three look-ups over the gateway's read models, for the composition root to pass to ``proxy_router``.

Who may connect is the one studio policy (``access.policy.check`` with ``studio:connect``): a studio the caller
may not see is 404, a private studio is its creator's alone (403 for the admins who see it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from libs.contracts.errors import NotFound, Unauthenticated
from libs.contracts.studio_state import State
from services.gateway.access import auth, policy
from services.gateway.access.auth import Principal
from services.gateway.read import Db
from services.gateway.read import studios as queries


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


def connect_permission(db: Db) -> Callable[[Principal, State], Awaitable[bool]]:
    async def can_connect(user: Principal, state: State) -> bool:
        try:
            role = await auth.role_in(db, user, int(state.workspace_id))
        except (NotFound, ValueError):
            raise NotFound(f"Studio {state.session_id} not found") from None
        policy.check(user, role, state, policy.CONNECT)
        return True

    return can_connect
