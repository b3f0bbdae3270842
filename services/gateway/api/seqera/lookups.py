"""What a studio DTO shows of other aggregates (users, compute environments, labels, data links), read in bulk
from the identity read models for a page of studios."""

from __future__ import annotations

from collections.abc import Sequence

from libs.contracts.studio_state import State
from services.gateway.api.seqera.dto import Lookups, as_int
from services.gateway.api.seqera.studios import models as m
from services.gateway.read.studios import Db


def _ints(values: set[str]) -> list[int]:
    return [i for v in values if (i := as_int(v)) is not None]


async def users(db: Db, ids: set[str]) -> dict[str, m.UserInfo]:
    rows = await db.fetch("SELECT id, user_name, email FROM read.users WHERE id = ANY($1::bigint[])", _ints(ids))
    return {str(r["id"]): m.UserInfo(id=r["id"], user_name=r["user_name"], email=r["email"]) for r in rows}


async def compute_envs(db: Db, ids: set[str]) -> dict[str, m.DataStudioComputeEnvDto]:
    rows = await db.fetch(
        """SELECT id, name, platform, credentials_id, config->>'workDir' AS work_dir, config->>'region' AS region
             FROM read.compute_envs WHERE id = ANY($1::text[])""", list(ids))
    return {r["id"]: m.DataStudioComputeEnvDto(**dict(r)) for r in rows}


async def labels(db: Db, ids: set[str]) -> dict[str, m.LabelDbDto]:
    rows = await db.fetch(
        """SELECT id, name, value, resource, is_default, date_created FROM read.labels
            WHERE id = ANY($1::bigint[])""", _ints(ids))
    return {str(r["id"]): m.LabelDbDto(**dict(r), is_dynamic=False, is_interpolated=False) for r in rows}


async def data_links(db: Db, ids: set[str]) -> dict[str, m.DataLinkDto]:
    rows = await db.fetch(
        """SELECT id, name, description, provider, resource_ref, type, status, public_accessible
             FROM read.data_links WHERE id = ANY($1::text[])""", list(ids))
    return {r["id"]: m.DataLinkDto(**dict(r), hidden=False) for r in rows}


async def for_studios(db: Db, states: Sequence[State], with_labels: bool = False) -> Lookups:
    user_ids = {s.user_id for s in states} | {c.user_id for s in states for c in s.active_connections}
    return Lookups(
        users=await users(db, user_ids),
        compute_envs=await compute_envs(db, {s.compute_env_id for s in states}),
        labels=await labels(db, {i for s in states for i in s.label_ids}) if with_labels else None,
        data_links=await data_links(db, {i for s in states for i in s.configuration.mount_data}),
    )
