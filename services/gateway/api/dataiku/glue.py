"""What the Dataiku routes share: a project key to a workspace, the caller's access to it and to a code studio
(the one studio policy), and sending a command with the request's trace, then reading the write back."""

from __future__ import annotations

import asyncio

from fastapi import Request

from libs.contracts.commands import Command, Reply
from libs.contracts.errors import Forbidden, InvalidInput, NotFound, Unavailable
from libs.contracts.studio_state import State
from services.gateway.access import auth, policy
from services.gateway.access.auth import Principal
from services.gateway.commands import RequestTrace
from services.gateway.read import Db
from services.gateway.read import codestudios as q
from services.gateway.read import studios as queries
from services.gateway.read.projections import STUDIOS, wait_for_position
from services.gateway.read.projections.base import Projection, wake

POLL = 0.1


async def project(db: Db, caller: Principal, key: str, permission: str) -> int:
    """The workspace a project key names (its name, or its numeric id), if the caller may ``permission`` there."""
    ws = int(key) if key.isdigit() else await q.workspace_id_by_name(db, key)
    if ws is None:
        raise NotFound(f"Project {key} does not exist")
    try:
        await auth.require(db, caller, ws, permission)
    except NotFound:
        raise NotFound(f"Project {key} does not exist") from None
    except Forbidden as e:
        raise Forbidden(f"Project {key}: {e.detail}") from None
    return ws


async def code_studio(db: Db, caller: Principal, key: str, studio_id: str, permission: str) -> State:
    """The code studio if it is in the project and the caller may ``permission`` it (404 hides, 403 refuses)."""
    ws = await project(db, caller, key, "studio:read")
    s = await queries.studio(db, studio_id)
    if s is None or s.workspace_id != str(ws):
        raise NotFound(f"Code studio {studio_id} does not exist in project {key}")
    policy.check(caller, await auth.role_in(db, caller, ws), s, permission)
    return s


async def send(request: Request, cmd: Command, actor: str) -> Reply:
    sender = getattr(request.app.state, "sender", None)
    if sender is None:
        raise Unavailable("The gateway is starting")
    reply: Reply = await sender.send(cmd, RequestTrace.of(request.headers).meta(actor))
    return reply


async def settle(db: Db, projection: Projection, reply: Reply) -> None:
    if not await wait_for_position(db, projection, reply.position):  # type: ignore[arg-type]
        raise Unavailable("The change was saved but the read model is behind; retry the read shortly")


async def studio_after(request: Request, db: Db, session_id: str, cmd: Command, actor: str) -> State:
    """Send ``cmd`` and answer the studio as it left it (read-your-writes on the studios read model)."""
    reply = await send(request, cmd, actor)
    await settle(db, STUDIOS, reply)
    s = await queries.studio(db, str((reply.result or {}).get("sessionId") or session_id))
    if s is None:
        raise Unavailable("The change was saved but the read model is behind; retry the read shortly")
    return s


async def wait_studio(db: Db, session_id: str, done: object, seconds: float) -> State | None:
    """Poll the read model (bounded) until ``done(state)``; the last state seen either way (None: deleted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        s = await queries.studio(db, session_id)
        if s is None or done(s) or loop.time() >= deadline:  # type: ignore[operator]
            return s
        wake(STUDIOS)
        await asyncio.sleep(POLL)


def require_text(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise InvalidInput(f"{what} is required")
    return value.strip()
