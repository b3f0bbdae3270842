"""What a studio DTO shows of other aggregates (users, compute environments, labels, data links), read in bulk
(``read/lookups.py``) for a page of studios and shaped as Seqera's DTOs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from libs.contracts.studio_state import State
from services.gateway.api.seqera.dto import Lookups, as_int
from services.gateway.api.seqera.studios import models as m
from services.gateway.read import Db
from services.gateway.read import checkpoints as read_checkpoints
from services.gateway.read import lookups as read


def _ints(values: set[str]) -> list[int]:
    return [i for v in values if (i := as_int(v)) is not None]


def avatar(email: str | None) -> str | None:
    """A generated avatar for users who set none: Gravatar's identicon for the SHA-256 of the email, which
    Gravatar accepts (a picture the user registered there, else a pattern derived from the hash)."""
    if not email:
        return None
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon"


async def users(db: Db, ids: set[str]) -> dict[str, m.UserInfo]:
    rows = await read.users(db, _ints(ids))
    return {str(r["id"]): m.UserInfo(id=r["id"], user_name=r["user_name"], email=r["email"],
                                     avatar=r.get("avatar") or avatar(r["email"])) for r in rows}


async def parents(db: Db, ids: set[str]) -> dict[str, m.ParentCheckpoint]:
    rows = await read_checkpoints.parents(db, set(_ints(ids)))
    return {str(i): m.ParentCheckpoint(checkpoint_id=i, checkpoint_name=r["name"], session_id=r["session_id"],
                                       studio_name=r["studio_name"]) for i, r in rows.items()}


async def compute_envs(db: Db, ids: set[str]) -> dict[str, m.DataStudioComputeEnvDto]:
    return {r["id"]: m.DataStudioComputeEnvDto(**r) for r in await read.compute_envs(db, ids)}


async def labels(db: Db, ids: set[str]) -> dict[str, m.LabelDbDto]:
    rows = await read.labels(db, _ints(ids))
    return {str(r["id"]): m.LabelDbDto(**r, is_dynamic=False, is_interpolated=False) for r in rows}


async def data_links(db: Db, ids: set[str]) -> dict[str, m.DataLinkDto]:
    return {r["id"]: m.DataLinkDto(**r, hidden=False) for r in await read.data_links(db, ids)}


async def for_studios(db: Db, states: Sequence[State], with_labels: bool = False) -> Lookups:
    user_ids = {s.user_id for s in states} | {c.user_id for s in states for c in s.active_connections}
    return Lookups(
        users=await users(db, user_ids),
        compute_envs=await compute_envs(db, {s.compute_env_id for s in states}),
        labels=await labels(db, {i for s in states for i in s.label_ids}) if with_labels else None,
        data_links=await data_links(db, {i for s in states for i in s.configuration.mount_data}),
        parents=await parents(db, {s.parent_checkpoint_id for s in states if s.parent_checkpoint_id}),
    )
