"""Write-side ids come from the store (``es.ids``), never from a read model: a read schema dropped and migrated
again (a reset, a restore of the read side only) must not hand out ids that events already hold."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.eventstore import EventStore
from services.gateway.handlers.identity import create_user
from services.gateway.read.schema import GATEWAY

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def reset_read_schema(database_url: str) -> EventStore:
    """Drop every read model and let a fresh start migrate it again, from nothing."""
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    await store.pool.execute("DROP SCHEMA read CASCADE; DELETE FROM public.schema_migrations "
                             "WHERE namespace = 'gateway'")
    await store.close()
    return await EventStore.connect(database_url, sources=[GATEWAY])


async def test_resetting_the_read_schema_does_not_reuse_ids(database_url: str) -> None:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    try:
        before = [(await create_user(store, user_name=f"u{i}", email=f"u{i}@x.org", actor="system", now=NOW))[0]
                  for i in range(3)]
    finally:
        await store.close()
    store = await reset_read_schema(database_url)
    try:
        assert await store.pool.fetchval("SELECT to_regclass('read.users') IS NOT NULL")  # migrated anew
        after, _ = await create_user(store, user_name="late", email="late@x.org", actor="system", now=NOW)
        assert after not in before and after > max(before)
        assert await store.stream_version(f"user-{after}") == 0  # a new stream, not a reused one
    finally:
        await store.close()
