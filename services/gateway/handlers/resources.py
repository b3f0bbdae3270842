"""Command glue for compute environments, data links and labels: ids, name reservations, ``execute``."""

from __future__ import annotations

import secrets
import string
from datetime import datetime
from typing import Any

from libs.contracts import identity as ev
from libs.eventstore import EventStore, execute
from libs.eventstore.reservations import NameTaken, release, reserve
from services.gateway.domain import resources as res
from services.gateway.handlers.identity import meta, with_reservations

_ALPHABET = string.ascii_letters + string.digits


def new_resource_id() -> str:
    """Seqera-style alphanumeric id (22 characters, ~131 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(22))


async def create_compute_env(store: EventStore, *, workspace_id: int, name: str, platform: str, config: Any,
                             actor_is_admin: bool, actor: str, now: datetime, description: str | None = None,
                             credentials_id: str | None = None,
                             compute_env_id: str | None = None) -> tuple[str, int | None]:
    cid = compute_env_id or new_resource_id()
    owner = ev.stream(ev.COMPUTE_ENV, cid)
    cmd = res.CreateComputeEnv(cid, workspace_id, name, platform, config, actor_is_admin, now, actor, description,
                               credentials_id)
    res.decide(res.INITIAL, cmd)  # bad input is a 400 before the name is looked at
    extra = [await reserve(store, "computeenvname", f"{workspace_id}:{name}", owner, now,
                           f"Compute environment name '{name}'")]
    done = await execute(store, owner, cmd, res.decide, res.evolve, res.INITIAL,
                         also=with_reservations(extra), metadata=meta(actor))
    return cid, done.position


async def delete_compute_env(store: EventStore, *, compute_env_id: str, workspace_id: int, name: str, actor: str,
                             now: datetime) -> int | None:
    """Delete and give the name back in the same transaction."""
    owner = ev.stream(ev.COMPUTE_ENV, compute_env_id)
    freed = release("computeenvname", f"{workspace_id}:{name}", owner, now)
    done = await execute(store, owner, res.DeleteComputeEnv(compute_env_id, now, actor), res.decide,
                         res.evolve, res.INITIAL, also=with_reservations([freed]), metadata=meta(actor))
    return done.position


async def create_data_link(store: EventStore, *, workspace_id: int, name: str, resource_ref: str,
                           actor_is_admin: bool, actor: str, now: datetime, description: str | None = None,
                           provider: str | None = None, public_accessible: bool = False,
                           credentials_id: str | None = None) -> tuple[str, int | None]:
    did = new_resource_id()
    owner = ev.stream(ev.DATA_LINK, did)
    cmd = res.CreateDataLink(did, workspace_id, name, resource_ref, actor_is_admin, now, actor, description,
                             provider, public_accessible, credentials_id)
    res.decide(res.INITIAL, cmd)
    extra = [await reserve(store, "datalinkname", f"{workspace_id}:{name}", owner, now,
                           f"Data link name '{name}'")]
    done = await execute(store, owner, cmd, res.decide, res.evolve, res.INITIAL,
                         also=with_reservations(extra), metadata=meta(actor))
    return did, done.position


async def create_label(store: EventStore, *, workspace_id: int, name: str, actor: str, now: datetime,
                       value: str | None = None, resource: bool = False,
                       is_default: bool = False) -> tuple[int, int | None]:
    """Seqera's create-or-retrieve: the same name (and value) in the workspace answers the existing label."""
    lid = await store.next_id()
    owner = ev.stream(ev.LABEL, lid)
    cmd = res.CreateLabel(lid, workspace_id, name, now, actor, value, resource, is_default)
    res.decide(res.INITIAL, cmd)
    try:
        extra = [await reserve(store, "labelname", f"{workspace_id}:{name}={value or ''}", owner, now,
                               f"Label '{name}'")]
    except NameTaken as taken:
        return int(taken.owner.split("-", 1)[1]), None
    done = await execute(store, owner, cmd, res.decide, res.evolve, res.INITIAL,
                         also=with_reservations(extra), metadata=meta(actor))
    return lid, done.position
