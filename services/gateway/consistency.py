"""Read-your-writes: wait (bounded) until a projection has passed the position a write returned.

A write returns a global position; a projection's checkpoint is a ``(tx_id, global_position)`` pair in commit order.
Identity order is not commit order, so ``checkpoint.global_position >= position`` proves nothing. Instead the
event's own ``tx_id`` is looked up and the pairs are compared: the projection passed the event exactly when the
event is at or before the checkpoint in ``(tx_id, global_position)`` order.
"""

from __future__ import annotations

import asyncio

import asyncpg

_PASSED = """SELECT (c.tx_id, c.global_position) >= (e.tx_id, e.global_position)
  FROM es.events e JOIN es.checkpoints c ON c.name = $1
 WHERE e.global_position = $2"""


async def passed(pool: asyncpg.Pool | asyncpg.Connection, projection_name: str, position: int) -> bool:
    """Whether ``projection_name`` has applied (or skipped) the event at ``position``."""
    return bool(await pool.fetchval(_PASSED, projection_name, position))


async def wait_for(pool: asyncpg.Pool, projection_name: str, position: int | None,
                   timeout: float = 5.0) -> bool:
    """True once the projection has passed ``position`` (at once for ``None``: nothing was written); False
    after ``timeout`` seconds. Polls with a short back-off, one indexed query per poll."""
    if position is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.005
    while True:
        if await passed(pool, projection_name, position):
            return True
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.1)
