"""Bulk reads by id of what a page of studios refers to (users, compute environments, labels, data links), in
plain column names: the dialect shapes them (``api/seqera/lookups.py``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.gateway.read import Db

Row = dict[str, Any]


async def users(db: Db, ids: Collection[int]) -> list[Row]:
    rows = await db.fetch("SELECT id, user_name, email FROM read.users WHERE id = ANY($1::bigint[])", list(ids))
    return [dict(r) for r in rows]


async def compute_envs(db: Db, ids: Collection[str]) -> list[Row]:
    rows = await db.fetch(
        """SELECT id, name, platform, credentials_id, config->>'workDir' AS work_dir, config->>'region' AS region
             FROM read.compute_envs WHERE id = ANY($1::text[])""", list(ids))
    return [dict(r) for r in rows]


async def labels(db: Db, ids: Collection[int]) -> list[Row]:
    rows = await db.fetch(
        """SELECT id, name, value, resource, is_default, date_created FROM read.labels
            WHERE id = ANY($1::bigint[])""", list(ids))
    return [dict(r) for r in rows]


async def data_links(db: Db, ids: Collection[str]) -> list[Row]:
    rows = await db.fetch(
        """SELECT id, name, description, provider, resource_ref, type, status, public_accessible
             FROM read.data_links WHERE id = ANY($1::text[])""", list(ids))
    return [dict(r) for r in rows]
