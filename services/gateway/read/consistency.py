"""Read-your-writes: wait (bounded) until a projection has passed the position a write returned.

A write returns the global position of the last event it appended; a projection's checkpoint is a
``(tx_id, global_position)`` pair in commit order. Identity order is not commit order, and the position may be an
event of a category the projection does not read (a name reservation appended with a studio's events), so the
check is by transaction: no event of the projection's categories committed with or before that position's
transaction lies beyond the checkpoint. One query, no write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

_PASSED = """WITH cp AS (
  SELECT coalesce((SELECT tx_id FROM es.checkpoints WHERE name = $1), '0'::xid8) AS tx_id,
         coalesce((SELECT global_position FROM es.checkpoints WHERE name = $1), 0) AS global_position)
SELECT NOT EXISTS (
  SELECT 1 FROM es.events e, cp
   WHERE e.category = ANY($2::text[])
     AND e.tx_id <= (SELECT tx_id FROM es.events WHERE global_position = $3)
     AND (e.tx_id, e.global_position) > (cp.tx_id, cp.global_position))"""

Checkpoint = str | Callable[[], Awaitable[str]]


async def passed(db: asyncpg.Pool | asyncpg.Connection, checkpoint: str, categories: Sequence[str],
                 position: int) -> bool:
    """Whether the consumer at ``checkpoint`` has applied (or skipped) everything of ``categories`` up to the
    transaction that wrote ``position``."""
    return bool(await db.fetchval(_PASSED, checkpoint, list(categories), position))


async def wait_for(db: asyncpg.Pool, checkpoint: Checkpoint, position: int | None, *,
                   categories: Sequence[str], timeout: float = 5.0) -> bool:
    """True once the consumer has passed ``position`` (at once for ``None``: nothing was written); False after
    ``timeout`` seconds. ``checkpoint`` may be a callable, for projections whose serving version can change while
    a client waits."""
    if position is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.005
    while True:
        name = checkpoint if isinstance(checkpoint, str) else await checkpoint()
        if await passed(db, name, categories, position):
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.1)
