"""Saves and restores against garbage collection: a save holds a shared advisory lock from before it looks for
stored chunks until its event is committed; collection holds it exclusively. Without it, a save could find a
chunk stored (and skip writing it) that a collection deletes a moment later as referenced by nothing. Session
locks on a connection of their own, not a transaction: the work between is long and calls the network. A
process killed meanwhile loses its connection, and with it the lock."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

from libs.eventstore import EventStore

KEY = int.from_bytes(hashlib.sha256(b"studios:checkpoints:gc").digest()[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def shared(store: EventStore) -> AsyncIterator[None]:
    async with store.pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock_shared($1)", KEY)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock_shared($1)", KEY)


@contextlib.asynccontextmanager
async def exclusive(store: EventStore) -> AsyncIterator[bool]:
    """Yields False (and holds nothing) when saves are under way: collection tries again on its next round."""
    async with store.pool.acquire() as conn:
        got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", KEY))
        try:
            yield got
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock($1)", KEY)
