"""The relay: events from the PostgreSQL store into JetStream ``EVENTS``, each exactly once.

It reads by commit horizon after its checkpoint (``es.checkpoints`` row ``relay:EVENTS``), publishes each event
to ``studios.events.<category>.<event_type>`` with ``Nats-Msg-Id`` = event id and the headers of ``headers.py``,
keeps at most ``window`` acks in flight, and advances the checkpoint (compare-and-set under its leader epoch)
only to a position up to which every publish was acknowledged by JetStream itself (``acks.py``: another
subscriber's answer never counts). A crash republishes at most what was published after the checkpoint, and
JetStream's duplicate window (15 min) drops the repeats. An event too large for ``max_payload`` is parked
(``publishing.py``), never retried.

Leadership (``leadership.py``): any number of processes may run a ``Relay``; the one holding the leader lock
publishes, the others wait on the lock. The leader confirms its epoch before each batch and holds a lease that
PostgreSQL enforces, so a leader paused past its lease neither moves the checkpoint nor goes on publishing.

Connection: ``run`` publishes on a NATS connection of the relay's own, so its publishes and acks never queue
behind, or fail with, the service's other traffic: opened from the URL it was given, or with the servers and
credentials of the client it was given (a service passes its broker's). ``run_once`` (tests, the benchmark) uses
a given client as it is.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from libs.bus.acks import AckWindow, PublishFailed, connection_of, fast_path_available
from libs.bus.headers import subject_token
from libs.bus.leadership import Leadership, LostLeadership, lock_key
from libs.bus.publishing import event_headers, load_checkpoint, pump
from libs.bus.streams import DEFAULT, Topology
from libs.eventstore import EventStore
from libs.eventstore.errors import CheckpointMoved
from libs.eventstore.wakeup import notify

log = logging.getLogger("studios.bus.relay")

__all__ = ["LostLeadership", "Relay", "checkpoint_name", "lock_key", "relay_status"]


def checkpoint_name(name: str = "relay", topology: Topology = DEFAULT) -> str:
    return f"{name}:{topology.events_stream}"


class Relay:
    def __init__(self, store: EventStore, nats_: str | Sequence[str] | JetStreamContext | NATS, *,
                 name: str = "relay", topology: Topology = DEFAULT, window: int = 1000, batch: int = 1000,
                 ack_timeout: float = 10.0, dsn: str | None = None, poll_min: float = 0.01,
                 poll_max: float = 0.05, leader_retry: float = 1.0, lease_ttl: float = 30.0,
                 fast_path: bool | None = None) -> None:
        if ack_timeout > lease_ttl / 2:
            # The lease is trusted locally for half the ttl, then an ack may be awaited before the next check:
            # the lock connection must not idle past the ttl (the server would end the lease) just for that.
            raise ValueError("ack_timeout is at most half of lease_ttl")
        self.store, self.topology = store, topology
        self._given: NATS | None = None
        self._servers: list[str] | None = None
        if isinstance(nats_, NATS | JetStreamContext):
            self._given = connection_of(nats_)
        else:
            self._servers = [nats_] if isinstance(nats_, str) else list(nats_)
        self._own: NATS | None = None
        self.checkpoint = checkpoint_name(name, topology)
        self.window, self.batch, self.ack_timeout = window, batch, ack_timeout
        self.poll_min, self.poll_max, self.leader_retry = poll_min, poll_max, leader_retry
        self.fast_path = fast_path
        self._dsn = dsn
        self.leadership = Leadership(self._connect_pg, self.checkpoint, lease_ttl)
        self.published = 0

    # -- connections --------------------------------------------------------------------------------------

    def _app_name(self) -> str:
        return f"{self.checkpoint} {socket.gethostname()}:{os.getpid()}"[:63]

    async def _connect_pg(self, settings: dict[str, str]) -> asyncpg.Connection:
        settings = {"application_name": self._app_name(), **settings}
        if self._dsn:
            return await asyncpg.connect(self._dsn, server_settings=settings)
        # The pool's own connect arguments: a private asyncpg attribute, used only when no dsn is given.
        pool: Any = self.store.pool
        args, kwargs = pool._connect_args, dict(pool._connect_kwargs)
        kwargs["server_settings"] = {**(kwargs.get("server_settings") or {}), **settings}
        return await asyncpg.connect(*args, **kwargs)

    async def _nats(self, own: bool) -> NATS:
        """The connection to publish on: a given client (``own=False``, ``run_once``), else the relay's own."""
        if not own and self._given is not None:
            nc = self._given
        else:
            if self._own is None:
                async def error(e: Exception) -> None:
                    log.warning("%s: NATS: %s: %s", self.checkpoint, type(e).__name__, e)

                self._own = await nats.connect(**_clone_options(self._given, self._servers),
                                               name=self._app_name(), max_reconnect_attempts=-1,
                                               reconnect_time_wait=1, error_cb=error)
            nc = self._own
        if self.fast_path is None:
            self.fast_path = fast_path_available(nc)
            log.info("%s: publishing through %s", self.checkpoint,
                     "nats-py's write buffer (fast path)" if self.fast_path else "nats-py's public publish")
        return nc

    async def close(self) -> None:
        """Step down and close the relay's own NATS connection (never a client it was given)."""
        await self.step_down()
        if self._own is not None:
            nc, self._own = self._own, None
            await nc.close()

    # -- leadership ---------------------------------------------------------------------------------------

    async def lead(self) -> bool:
        """Hold the leader lock (trying once, renewing the lease when due); True when this relay leads."""
        if self.leadership.leading:
            try:
                await self.leadership.keep()
                return True
            except LostLeadership as e:
                log.warning("%s; stepping down", e)
        if await self.leadership.try_acquire():
            await self._took_over()
            return True
        return False

    async def _took_over(self) -> None:
        at = await load_checkpoint(self.store, self.checkpoint)
        log.info("%s: leader (pid %s, epoch %s), resuming after position %s", self.checkpoint, os.getpid(),
                 self.leadership.epoch, at.global_position)

    async def step_down(self) -> None:
        await self.leadership.release()

    # -- publishing ---------------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """If leader: publish everything below the horizon now; returns how many events were published.

        Raises LostLeadership (having stepped down) when leadership was lost during the pass."""
        if not await self.lead():
            return 0
        return await self._pass()

    async def _pass(self, own: bool = False) -> int:
        nc = await self._nats(own)
        async with AckWindow(nc, self.topology.events_stream, self.window, self.ack_timeout,
                             fast=self.fast_path) as acks:
            count = await pump(self.store, acks, self.checkpoint, batch=self.batch, message=self._message,
                               guard=self.leadership)
        self.published += count
        if count:  # one notification per pass, for followers in other processes (libs/eventstore/wakeup.py)
            await notify(self.store.pool)
        return count

    def _message(self, row: asyncpg.Record) -> tuple[str, dict[str, str]]:
        subject = f"{self.topology.events_prefix}.{subject_token(row['category'])}.{subject_token(row['event_type'])}"
        return subject, event_headers(row, row["event_id"])

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set: wait on the leader lock, poll with back-off when idle, retry after errors.

        Idle, the leader polls every ``poll_max`` (50 ms): an empty horizon read costs a fraction of a millisecond,
        and every hop of a studio start (request -> runner, running -> read model) waits for the relay, so a
        longer back-off showed up directly as start latency."""
        delay = self.poll_min
        try:
            while not stop.is_set():
                try:
                    if not self.leadership.leading:
                        if not await self.leadership.acquire(stop):
                            break
                        await self._took_over()
                    await self.leadership.keep()
                    delay = self.poll_min if await self._pass(own=True) else min(delay * 2, self.poll_max)
                except CheckpointMoved as e:  # LostLeadership included: wait on the lock again
                    log.warning("%s; stepping down", e)
                    await self.step_down()
                    delay = self.poll_min
                except PublishFailed as e:  # JetStream refused or did not answer: no traceback for that
                    log.warning("%s: publishing failed (%s); retrying from the checkpoint", self.checkpoint, e)
                    delay = max(self.leader_retry, delay)
                except Exception:
                    log.exception("%s: publishing failed; retrying from the checkpoint", self.checkpoint)
                    delay = max(self.leader_retry, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
        finally:
            await self.close()


def _clone_options(nc: NATS | None, servers: list[str] | None) -> dict[str, Any]:
    """Connect options for a connection like ``nc`` (its servers, user, password, token, TLS), or to ``servers``."""
    if nc is None:
        assert servers is not None
        return {"servers": servers}
    options = {k: nc.options[k] for k in ("user", "password", "token", "tls", "tls_hostname")
               if nc.options.get(k) is not None}
    return {"servers": [u.geturl() for u in nc.servers], **options}


async def relay_status(store: EventStore, *, name: str = "relay", topology: Topology = DEFAULT) -> dict[str, Any]:
    """Checkpoint, leader epoch, head, lag (events below the horizon not yet relayed), events parked by the relay,
    and the leader's connection, if any."""
    checkpoint = checkpoint_name(name, topology)
    key = lock_key(checkpoint)
    at = await load_checkpoint(store, checkpoint)
    async with store.pool.acquire() as conn:
        head = await store.head()
        lag = await conn.fetchval(
            """SELECT count(*) FROM es.events WHERE (tx_id, global_position) > ($1::xid8, $2::bigint)
                  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())""", at.tx_id, at.global_position)
        epoch = await conn.fetchval("SELECT leader_epoch FROM es.checkpoints WHERE name = $1", checkpoint)
        parked = await conn.fetchval("SELECT count(*) FROM es.parked WHERE consumer = $1", checkpoint)
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
        "epoch": int(epoch or 0),
        "parked": int(parked),
        "leader": dict(leader) if leader else None,
    }
