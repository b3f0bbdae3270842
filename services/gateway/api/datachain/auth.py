"""Who calls and for which team. The DataChain client sends ``Authorization: token <T>``; its docs say
``Bearer <T>``: both are taken. A team is a workspace, named by ``team_name`` (query for GET and multipart, JSON body
for POST); the caller needs the workspace role and token scope for the job permission asked (403 otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from libs.contracts.errors import InvalidInput, NotFound, Unauthenticated
from services.gateway.access.auth import Principal, authenticate, require
from services.gateway.read import Db
from services.gateway.read import jobs as q


def token_of(headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise Unauthenticated("Missing token: send 'Authorization: token <T>' (or 'Bearer <T>')")
    return token.strip()


@dataclass(frozen=True)
class Team:
    user: Principal
    workspace_id: int
    name: str


async def team(db: Db, headers: Mapping[str, str], team_name: str | None, permission: str) -> Team:
    user = await authenticate(db, token_of(headers))
    if not team_name:
        raise InvalidInput("team_name is required", field="team_name")
    workspace_id = await q.workspace_by_name(db, team_name, user.user_id)
    if workspace_id is None:
        raise NotFound(f"Team '{team_name}' not found")
    await require(db, user, workspace_id, permission)
    return Team(user, workspace_id, team_name)
