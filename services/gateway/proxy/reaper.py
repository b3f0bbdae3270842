"""Closes connections nobody renewed: a gateway killed with SIGKILL sent no close, and its connections' leases
pass. Every gateway process runs a reaper; a close of a connection already closed decides nothing, so several at
once are harmless. Lifecycle records the close (``StudioConnectionClosed``, reason "lease expired").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from libs.contracts.studio_commands import RecordConnection
from libs.eventstore.wakeup import idle
from libs.platform.clock import now as utcnow
from services.gateway.commands import CommandSender
from services.gateway.read import connections as q

log = logging.getLogger(__name__)
EXPIRED = "lease expired: nobody renewed the connection (its gateway stopped without closing it)"


async def reap(pool: asyncpg.Pool, commands: CommandSender, now: datetime, grace: float = 0.0) -> int:
    """Close every connection whose lease ended more than ``grace`` seconds before ``now``; how many."""
    closed = 0
    for e in await q.expired(pool, now - timedelta(seconds=grace)):
        cmd = RecordConnection(session_id=e.session_id, now=now, actor="gateway", user_id=e.user_id,
                               connection_id=e.connection_id, connected=False, run=e.run, reason=EXPIRED)
        try:
            await commands.send(cmd)
            closed += 1
        except Exception as err:  # the next pass tries again
            log.warning("could not close expired connection %s of studio %s: %r", e.connection_id, e.session_id,
                        err)
    return closed


async def run(pool: Callable[[], asyncpg.Pool], commands: CommandSender, stop: asyncio.Event, *,
              every: float = 10.0, grace: float = 0.0, clock: Callable[[], datetime] = utcnow) -> None:
    while not stop.is_set():
        try:
            await reap(pool(), commands, clock(), grace)
        except Exception:
            log.exception("connection reaper failed; retrying")
        await idle(stop, None, every)
