"""Authentication (bearer tokens, looked up by SHA-256 hash in ``read.tokens``) and workspace authorization.

- ``CurrentUser``: a route parameter of this type gets the caller's ``Principal``, or the request ends in 401.
- ``await require(pool, user, workspace_id, permission)``: the caller's effective ``Role`` in the workspace, or
  404 (no such workspace) / 403 (not a participant, role too low, or the token's scopes leave it out).
- ``WorkspacePermission("studio:read")``: the same as a dependency, reading ``workspaceId`` from the path or query.

The effective role is the highest of: the participant role, ``owner`` for owners of the workspace's organization,
``owner`` for system administrators. A token with scopes grants only those permissions and never system admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from libs.contracts.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from services.gateway.access.deps import PoolDep
from services.gateway.domain.permissions import ORDER, Role, can, parse_role
from services.gateway.handlers.identity import hash_token
from services.gateway.read import Db
from services.gateway.read import identity as q


@dataclass(frozen=True)
class Principal:
    user_id: int
    user_name: str
    email: str
    is_admin: bool  # system administrator (never through a scoped token)
    token_id: int
    scopes: tuple[str, ...] = ()  # empty: unrestricted

    @property
    def actor(self) -> str:
        return str(self.user_id)

    def allows(self, permission: str) -> bool:
        return not self.scopes or permission in self.scopes


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Missing bearer token: send 'Authorization: Bearer <token>'")
    return token.strip()


async def authenticate(db: Db, token: str) -> Principal:
    return await authenticate_hash(db, hash_token(token))


async def authenticate_hash(db: Db, token_hash: str) -> Principal:
    """The same by the token's hash (a studio-origin session keeps only that: ``access.tickets``)."""
    row = await q.token_principal(db, token_hash)
    if row is None or row["revoked"] or row["expired"]:
        raise Unauthenticated("Invalid, expired or revoked token")
    scopes = tuple(row["scopes"] or ())
    return Principal(row["user_id"], row["user_name"], row["email"], bool(row["is_admin"]) and not scopes,
                     row["token_id"], scopes)


async def current_user(request: Request, pool: PoolDep) -> Principal:
    principal = await authenticate(pool, bearer(request))
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_admin(user: Principal) -> None:
    if not user.is_admin:
        raise Forbidden("Only a system administrator may do this")


def _highest(*roles: Role | None) -> Role | None:
    present = [r for r in roles if r is not None]
    return max(present, key=ORDER.index) if present else None


async def role_in(db: Db, user: Principal, workspace_id: int) -> Role | None:
    """The effective role; None for a non-participant. NotFound when the workspace does not exist."""
    row = await q.access(db, workspace_id, user.user_id)
    if row is None:
        raise NotFound(f"Workspace {workspace_id} not found")
    org_owner = Role.OWNER if row["org_role"] == "owner" else None
    admin = Role.OWNER if user.is_admin else None
    return _highest(parse_role(row["participant_role"] or ""), org_owner, admin)


async def require(db: Db, user: Principal, workspace_id: int, permission: str) -> Role:
    role = await role_in(db, user, workspace_id)
    if role is None:
        raise Forbidden(f"You are not a participant of workspace {workspace_id}")
    if not can(role, permission):
        raise Forbidden(f"Your role '{role.value}' does not allow '{permission}'")
    if not user.allows(permission):
        raise Forbidden(f"This token's scopes do not include '{permission}'")
    return role


@dataclass(frozen=True)
class WorkspaceAccess:
    user: Principal
    workspace_id: int
    role: Role


def workspace_id_of(request: Request) -> int:
    raw = request.path_params.get("workspaceId") or request.query_params.get("workspaceId")
    if raw is None or raw == "":
        raise InvalidInput("workspaceId is required")
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"workspaceId must be a number, not '{raw}'") from None


class WorkspacePermission:
    """``access: Annotated[WorkspaceAccess, Depends(WorkspacePermission("studio:create"))]``."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, request: Request, user: CurrentUser, pool: PoolDep) -> WorkspaceAccess:
        workspace_id = workspace_id_of(request)
        role = await require(pool, user, workspace_id, self.permission)
        return WorkspaceAccess(user, workspace_id, role)
