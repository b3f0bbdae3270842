"""Helpers for the event-store tests: which sessions wait for a stream's lock."""

from __future__ import annotations

import asyncpg

from libs.eventstore import EventStore


async def waiting_for_the_lock(store: EventStore) -> list[asyncpg.Record]:
    """The sessions of this database waiting for an advisory lock (a stream's), with their transaction ids.
    Asked on the store's pool: the holder's own transaction would see one snapshot of the statistics."""
    return await store.pool.fetch(
        """SELECT backend_xid FROM pg_stat_activity WHERE datname = current_database()
            AND wait_event_type = 'Lock' AND wait_event = 'advisory'""")
