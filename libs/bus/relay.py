"""The relay: events from the PostgreSQL store into JetStream ``EVENTS``, each exactly once.

It reads by commit horizon after its checkpoint (``es.checkpoints`` row ``relay:EVENTS``), publishes each event
to ``studios.events.<category>.<event_type>`` with ``Nats-Msg-Id`` = event id and the headers of ``headers.py``,
keeps at most ``window`` acks in flight, and advances the checkpoint (compare-and-set) only to a position up to
which every ack arrived, in order. A crash republishes at most what was published after the checkpoint, and
JetStream's duplicate window (15 min) drops the repeats.

Leadership: any number of processes may run a ``Relay``; the one holding a PostgreSQL session advisory lock on a
dedicated connection (not a pooled one: the pool's reset would release it) publishes, the others retry every
``leader_retry`` seconds. When the leader's process or connection dies, PostgreSQL releases the lock and another
takes over. Should two ever publish at once (a leader cut off from PostgreSQL but not from NATS), dedup absorbs
the repeats and the checkpoint's compare-and-set makes the stale one step down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from libs.bus.acks import AckWindow, connection_of
from libs.bus.headers import subject_token
from libs.bus.publishing import event_headers, load_checkpoint, pump
from libs.bus.streams import DEFAULT, Topology
from libs.eventstore import EventStore
from libs.eventstore.errors import CheckpointMoved
from libs.eventstore.wakeup import notify

log = logging.getLogger("studios.bus.relay")

_LIVENESS_EVERY = 2.0


def lock_key(checkpoint: str) -> int:
    """A stable signed 64-bit advisory-lock key for a relay's checkpoint name."""
    return int.from_bytes(hashlib.sha256(f"studios:{checkpoint}".encode()).digest()[:8], "big", signed=True)


def checkpoint_name(name: str = "relay", topology: Topology = DEFAULT) -> str:
    return f"{name}:{topology.events_stream}"


class Relay:
    def __init__(self, store: EventStore, js: JetStreamContext | NATS, *, name: str = "relay",
                 topology: Topology = DEFAULT, window: int = 1000, batch: int = 1000, ack_timeout: float = 10.0,
                 dsn: str | None = None, poll_min: float = 0.01, poll_max: float = 0.05,
                 leader_retry: float = 1.0) -> None:
        self.store, self.nc, self.topology = store, connection_of(js), topology
        self.checkpoint = checkpoint_name(name, topology)
        self.window, self.batch, self.ack_timeout = window, batch, ack_timeout
        self.poll_min, self.poll_max, self.leader_retry = poll_min, poll_max, leader_retry
        self._dsn = dsn
        self._lock_conn: asyncpg.Connection | None = None
        self._checked_at = 0.0
        self.published = 0

    # -- leadership ---------------------------------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        app = f"{self.checkpoint} {socket.gethostname()}:{os.getpid()}"[:63]
        if self._dsn:
            return await asyncpg.connect(self._dsn, server_settings={"application_name": app})
        # The pool's own connect arguments: a private asyncpg attribute, used only when no dsn is given.
        pool: Any = self.store.pool
        args, kwargs = pool._connect_args, dict(pool._connect_kwargs)
        kwargs["server_settings"] = {**(kwargs.get("server_settings") or {}), "application_name": app}
        return await asyncpg.connect(*args, **kwargs)

    async def lead(self) -> bool:
        """Hold the leader lock (trying once); True when this relay is the leader."""
        if self._lock_conn is not None:
            if time.monotonic() - self._checked_at < _LIVENESS_EVERY:
                return True
            try:
                await self._lock_conn.fetchval("SELECT 1", timeout=5)
                self._checked_at = time.monotonic()
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                log.warning("%s: lost the leader connection; stepping down", self.checkpoint)
                await self.step_down()
        conn = await self._connect()
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(self.checkpoint)):
            self._lock_conn, self._checked_at = conn, time.monotonic()
            at = await load_checkpoint(self.store, self.checkpoint)
            log.info("%s: leader (pid %s), resuming after position %s", self.checkpoint, os.getpid(),
                     at.global_position)
            return True
        await conn.close()
        return False

    async def step_down(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # a dead connection has nothing left to release
                conn.terminate()

    # -- publishing ---------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """If leader: publish everything below the horizon now; returns how many events were published."""
        if not await self.lead():
            return 0
        async with AckWindow(self.nc, self.window, self.ack_timeout) as acks:
            count = await pump(self.store, acks, self.checkpoint, batch=self.batch, message=self._message,
                               after_batch=self._still_leading)
        self.published += count
        if count:  # one notification per pass, for followers in other processes (libs/eventstore/wakeup.py)
            await notify(self.store.pool)
        return count

    def _message(self, row: asyncpg.Record) -> tuple[str, dict[str, str]]:
        subject = f"{self.topology.events_prefix}.{subject_token(row['category'])}.{subject_token(row['event_type'])}"
        return subject, event_headers(row, row["event_id"])

    async def _still_leading(self) -> None:
        if not await self.lead():
            raise CheckpointMoved(f"{self.checkpoint}: lost leadership while publishing")

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set: poll with back-off when idle, retry after errors, wait when not leader.

        Idle, the leader polls every ``poll_max`` (50 ms): an empty horizon read costs a fraction of a millisecond,
        and every hop of a studio start (request -> runner, running -> read model) waits for the relay, so a
        longer back-off showed up directly as start latency."""
        delay = self.poll_min
        try:
            while not stop.is_set():
                try:
                    if not await self.lead():
                        delay = self.leader_retry
                    else:
                        delay = self.poll_min if await self.run_once() else min(delay * 2, self.poll_max)
                except CheckpointMoved as e:
                    log.warning("%s", e)
                    await self.step_down()
                    delay = self.leader_retry
                except Exception:
                    log.exception("%s: publishing failed; retrying from the checkpoint", self.checkpoint)
                    delay = max(self.leader_retry, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
        finally:
            await self.step_down()


async def relay_status(store: EventStore, *, name: str = "relay", topology: Topology = DEFAULT) -> dict[str, Any]:
    """Checkpoint, head, lag (events below the horizon not yet relayed) and the leader's connection, if any."""
    checkpoint = checkpoint_name(name, topology)
    key = lock_key(checkpoint)
    at = await load_checkpoint(store, checkpoint)
    async with store.pool.acquire() as conn:
        head = await store.head()
        lag = await conn.fetchval(
            """SELECT count(*) FROM es.events WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
                  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())""", at.tx_id, at.global_position)
        leader = await conn.fetchrow(
            """SELECT l.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
                 FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid""",
            (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)
    return {
        "checkpoint": checkpoint,
        "position": at.global_position,
        "tx_id": at.tx_id,
        "head": head.global_position,
        "lag": int(lag),
        "leader": dict(leader) if leader else None,
    }
