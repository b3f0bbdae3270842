"""The identity read model rebuilds blue/green like ``studios``: a new table version from position zero while the
old one serves, then the views swap; the running projection follows the new version, tokens keep working."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from libs.eventstore import EventStore, MigrationSource, migrate
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


async def test_an_existing_identity_read_model_is_carried_into_version_1(database_url: str, tmp_path: Path) -> None:
    """Upgrading a store whose identity tables predate versioning: rows and checkpoint move over, nothing replays."""
    older = tmp_path / "gateway-0002"
    older.mkdir()
    for name in ("0001_identity.sql", "0002_studios.sql"):
        shutil.copy(GATEWAY.directory / name, older / name)
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, MigrationSource("gateway", older))
        await conn.execute("INSERT INTO read.users (id, user_name, email, date_created, last_updated) "
                           "VALUES (7, 'old', 'old@x.org', now(), now())")
        await conn.execute("INSERT INTO es.checkpoints (name, tx_id, global_position) "
                           "VALUES ('gateway.identity', '42', 4242)")
    finally:
        await conn.close()
    store = await EventStore.connect(database_url, sources=[GATEWAY])  # applies 0003
    try:
        assert await store.pool.fetchval("SELECT user_name FROM read.users WHERE id = 7") == "old"
        assert await store.pool.fetchval("SELECT count(*) FROM read.users_v1") == 1
        rows = await store.pool.fetch("SELECT name, global_position FROM es.checkpoints WHERE name LIKE 'gateway.%'")
        assert [tuple(r) for r in rows] == [("gateway.identity_v1", 4242)]
        [st] = await status(store, IDENTITY.name)
        assert (st.version, st.checkpoint, st.position.global_position) == (1, "gateway.identity_v1", 4242)
    finally:
        await store.close()
