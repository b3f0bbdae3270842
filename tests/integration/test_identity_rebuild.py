"""The identity read model rebuilds blue/green like ``studios``: a new table version from position zero while the
old one serves, then the views swap; the running projection follows the new version, tokens keep working."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.eventstore import EventStore
from services.gateway.access.auth import authenticate
from services.gateway.bootstrap import ensure_defaults
from services.gateway.handlers.identity import create_user
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.identity import IDENTITY, identity_subscription
from services.gateway.read.projections.rebuild import rebuild, status
from services.gateway.read.schema import GATEWAY

ADMIN = "admin-token-for-rebuild"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str, tmp_path: Path) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, sources=[GATEWAY])
    stop = asyncio.Event()
    task = asyncio.create_task(identity_subscription(s, poll_max=0.05).run(stop))
    try:
        position = await ensure_defaults(s, ADMIN, work_dir=str(tmp_path / "work"))
        assert await wait_for_position(s.pool, IDENTITY, position)
        yield s
    finally:
        stop.set()
        await task
        await s.close()


async def _tables(store: EventStore) -> dict[str, list[tuple[object, ...]]]:
    return {t: [tuple(r) for r in await store.pool.fetch(f"SELECT * FROM read.{t} ORDER BY 1")]
            for t in IDENTITY.tables}


async def test_identity_rebuilds_into_a_new_version_and_keeps_serving(store: EventStore) -> None:
    for i in range(3):
        _, position = await create_user(store, user_name=f"u{i}", email=f"u{i}@x.org", actor="system", now=NOW)
    assert await wait_for_position(store.pool, IDENTITY, position)
    before = await _tables(store)
    assert len(before["users"]) == 4  # the admin and three

    st = await rebuild(store, IDENTITY.name)
    assert (st.version, st.building, st.lag, st.checkpoint, st.state) == (2, None, 0, "gateway.identity_v2", "ok")
    assert await _tables(store) == before
    assert (await authenticate(store.pool, ADMIN)).user_name == "admin"  # the token reads through the new views

    uid, position = await create_user(store, user_name="late", email="late@x.org", actor="system", now=NOW)
    assert await wait_for_position(store.pool, IDENTITY, position)  # the runner follows version 2
    assert await store.pool.fetchval("SELECT user_name FROM read.users_v2 WHERE id = $1", uid) == "late"

    assert (await rebuild(store, IDENTITY.name)).version == 3
    assert not await store.pool.fetchval("SELECT to_regclass('read.users_v1') IS NOT NULL")  # n-2 is dropped
    [now] = await status(store, IDENTITY.name)
    assert now.checkpoint == "gateway.identity_v3" and now.lag == 0
