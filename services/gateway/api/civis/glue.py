"""Send a studio command with the request's envelope, then read the studio (and its runs) back once the read models
have passed the write, so a Civis client never reads its own write as missing."""

from __future__ import annotations

from libs.contracts import studio as ev
from libs.contracts.commands import CommandMeta
from libs.contracts.errors import InvalidInput, NotFound
from libs.contracts.studio_commands import StudioCommand
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.eventstore import load
from services.gateway.access import auth, policy
from services.gateway.access.auth import Principal
from services.gateway.api.civis import translate as t
from services.gateway.api.civis.context import CivisContext
from services.gateway.commands import checked
from services.gateway.read import identity as identity_queries
from services.gateway.read import resources as resource_queries
from services.gateway.read import studios as queries
from services.gateway.read.projections import DEPLOYMENTS, STUDIOS, wait_for_position
from services.gateway.read.studios import Viewer


async def send(ctx: CivisContext, cmd: StudioCommand, meta: CommandMeta | None = None) -> State:
    """``meta``: the envelope (by default the request's: a repeated ``Idempotency-Key`` answers the first result)."""
    reply = checked(await ctx.sender.send(cmd, meta or ctx.trace.meta(cmd.actor)))
    session_id = str((reply.result or {}).get("sessionId") or cmd.session_id)
    pool = ctx.store.pool
    await wait_for_position(pool, DEPLOYMENTS, reply.position, 5.0)
    if await wait_for_position(pool, STUDIOS, reply.position, 5.0):
        shown = await queries.studio(pool, session_id)
        if shown is not None:
            return shown
    state, _ = await load(ctx.store, ev.stream_name(session_id), evolve, INITIAL)
    return state


async def studio(ctx: CivisContext, caller: Principal, studio_id: int, permission: str) -> State:
    """The studio if the caller may see it and has ``permission`` (404 hides, 403 refuses: the one policy)."""
    db = ctx.store.pool
    s = await queries.studio(db, t.session_of(studio_id))
    if s is None:
        raise NotFound(f"Studio {studio_id} not found")
    try:
        role = await auth.role_in(db, caller, int(s.workspace_id))
    except (NotFound, ValueError):
        raise NotFound(f"Studio {studio_id} not found") from None
    policy.check(caller, role, s, permission)
    return s


async def placement(ctx: CivisContext, caller: Principal, partition_label: str | None) -> tuple[int, dict[str, object]]:
    """The workspace and compute environment a new studio goes to: ``partitionLabel`` names the compute environment
    (its id, or its name in the caller's workspace); without one, the caller's workspace's first one."""
    db = ctx.store.pool
    if partition_label:
        ce = await resource_queries.compute_env(db, partition_label)
        if ce is None:
            ws = await identity_queries.default_workspace_id(db, caller.user_id)
            ce = await resource_queries.compute_env_by_name(db, ws, partition_label) if ws is not None else None
        if ce is None:
            raise InvalidInput(f"Unknown partition_label {partition_label!r}: name a compute environment",
                               field="partition_label")
        return int(str(ce["workspaceId"])), ce
    ws = await identity_queries.default_workspace_id(db, caller.user_id)
    if ws is None:
        raise InvalidInput("You belong to no workspace: there is nowhere to create a studio")
    envs = await resource_queries.compute_envs(db, ws)
    if not envs:
        raise InvalidInput(f"Workspace {ws} has no compute environment: set partition_label",
                           field="partition_label")
    found = await resource_queries.compute_env(db, str(envs[0]["id"]))
    if found is None:
        raise InvalidInput("The workspace's compute environment is gone", field="partition_label")
    return ws, found


async def listing(ctx: CivisContext, caller: Principal) -> tuple[list[str] | None, Viewer]:
    """Where the caller may list studios (None: everywhere, a system administrator) and who they are to the one
    visibility policy (private studios show to their creator and their workspace's admins)."""
    db = ctx.store.pool
    admin_of = await queries.administered_workspace_ids(db, caller.user_id, policy.ADMINISTERING_ROLES)
    viewer = Viewer(str(caller.user_id), admin_of, everything=caller.is_admin)
    return (None if caller.is_admin else await queries.participating_workspace_ids(db, caller.user_id)), viewer
