"""Glue for writes: build studio commands from Seqera bodies, send them, wait for the read model, read back."""

from __future__ import annotations

import uuid

from libs.contracts import studio as ev
from libs.contracts.commands import CommandMeta, Reply
from libs.contracts.errors import Conflict, StudiosError
from libs.contracts.studio import StudioConfiguration
from libs.contracts.studio_commands import CreateStudio, StudioCommand
from libs.contracts.studio_state import INITIAL, State, evolve
from libs.eventstore import load
from services.gateway.api.seqera.studios.context import StudiosContext
from services.gateway.api.seqera.studios.requests import DataStudioConfiguration
from services.gateway.commands import checked
from services.gateway.read import studios as queries
from services.gateway.read.projections import STUDIOS, wait_for_position

DEFAULTS = StudioConfiguration()


def new_session_id() -> str:
    """Seqera's session ids are 8 hex digits; a collision is caught by the studio stream's ``no_stream`` check."""
    return uuid.uuid4().hex[:8]


def configuration(body: DataStudioConfiguration | None, base: StudioConfiguration = DEFAULTS) -> StudioConfiguration:
    """The request's configuration over ``base``: fields left out keep their value."""
    if body is None:
        return base
    mounts = body.mount_data
    if mounts is None and body.mount_data_v2 is not None:
        mounts = [m.data_link_id for m in body.mount_data_v2]
    given = {
        "cpu": body.cpu, "gpu": body.gpu, "memory": body.memory, "environment": body.environment,
        "conda_environment": body.conda_environment, "lifespan_hours": body.lifespan_hours,
        "mount_data": tuple(mounts) if mounts is not None else None,
        "command": tuple(body.command) if body.command is not None else None,
        "idle_timeout_minutes": body.idle_timeout_minutes,
    }
    return base.model_copy(update={k: v for k, v in given.items() if v is not None})


async def read_back(ctx: StudiosContext, session_id: str, reply: Reply) -> State:
    """The studio as the write left it: from the read model once it has caught up, else folded from the store."""
    passed = await wait_for_position(ctx.store.pool, STUDIOS, reply.position, ctx.consistency_timeout)
    shown = await queries.studio(ctx.store.pool, session_id) if passed else None
    if shown is not None:
        return shown
    state, _ = await load(ctx.store, ev.stream_name(session_id), evolve, INITIAL)
    return state


async def send(ctx: StudiosContext, cmd: StudioCommand, meta: CommandMeta | None = None) -> State:
    """Send with the request's envelope; a repeated ``Idempotency-Key`` answers the first result."""
    reply = checked(await ctx.sender.send(cmd, meta or ctx.trace.meta(cmd.actor)))
    # A repeated create answers the studio it created the first time, whatever id this attempt drew.
    session_id = str((reply.result or {}).get("sessionId") or cmd.session_id)
    return await read_back(ctx, session_id, reply)


def name_taken(e: StudiosError, name: str | None) -> StudiosError:
    """A lost race for a name (the reservation stream's version check) reads as Seqera's duplicate-name 409."""
    if e.code in {"name_taken", "wrong_expected_version"}:
        return Conflict(f"A studio named '{name}' already exists in this workspace")
    return e


async def send_renaming(ctx: StudiosContext, cmd: StudioCommand, name: str | None) -> State:
    try:
        return await send(ctx, cmd)
    except StudiosError as e:
        raise name_taken(e, name) from e


async def create(ctx: StudiosContext, cmd: CreateStudio, attempts: int = 3) -> State:
    """Send ``cmd``, with a fresh session id when the drawn one is taken; a taken name is a 409.
    With an ``Idempotency-Key`` the session id derives from it and every attempt is one command (one id), so a
    create retried after a lost reply finds its studio instead of a 409 for its own name."""
    meta = ctx.trace.meta(cmd.actor)
    if ctx.trace.idempotency_key is not None:
        cmd = cmd.model_copy(update={"session_id": uuid.uuid5(meta.command_id, "session").hex[:8]})
    for attempt in range(attempts):
        try:
            return await send(ctx, cmd, meta)
        except StudiosError as e:
            if e.status != 409 and e.code not in {"conflict", "name_taken", "wrong_expected_version"}:
                raise
            if e.extra.get("session_id") == cmd.session_id and attempt + 1 < attempts:
                cmd = cmd.model_copy(update={"session_id": new_session_id()})
                continue
            raise name_taken(e, cmd.studio_name) from e
    raise AssertionError("unreachable")
