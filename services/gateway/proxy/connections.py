"""Connection tracking for the proxy: ``RecordConnection`` commands that keep a studio's active connections.

A WebSocket is one connection from open to close. Plain HTTP has no "close", so a (studio, user, run) seen over
HTTP counts as one connection ``http-<user>-<run>``: opened when first seen, closed once unused for ``idle``.

Every connection is held under a lease (``lease``, 90 s): while it is open the tracker renews it at most once per
``renew`` (30 s) with an *active* record (an open WebSocket is in use; an HTTP connection only when it was used
since). A connection nobody renews — its gateway was killed — counts as gone once its lease passes, and the
gateway's reaper (``reaper.py``) closes it for good: no ghost keeps a studio alive (docs/activity.md).

Tracking never slows down or fails a proxied request. Opens and closes wait in order in a queue of their own and
are never dropped: one the lifecycle could not take (it is down, or slow) is sent again after a back-off. Renewals
are coalesced, one per connection, behind them; a lost renewal is made good by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from libs.contracts.errors import StudiosError
from libs.contracts.studio_commands import RecordConnection
from libs.contracts.studio_state import State
from libs.platform.clock import now as utcnow
from libs.platform.metrics import ServiceMetrics
from services.gateway.commands import CommandSender
from services.gateway.proxy.admission import ProxyUser

log = logging.getLogger(__name__)
_coalesced = ServiceMetrics("gateway").counter(
    "proxy_connection_renewals_coalesced_total", "Connection renewals merged into one still waiting to be sent")

LEASE, RENEW = 90.0, 30.0


@dataclass
class _Open:
    """A connection the tracker holds open: what it renews it with, and when it last did."""

    session_id: str
    run: int
    user_id: str
    user_name: str | None
    last_sent: datetime
    last_seen: datetime


class ConnectionTracker:
    def __init__(self, commands: CommandSender, *, clock: Callable[[], datetime] = utcnow, lease: float = LEASE,
                 renew: float = RENEW, idle: float | None = None, sweep_every: float | None = None,
                 send_timeout: float = 10.0, retry_max: float = 5.0) -> None:
        if renew * 2 > lease:
            raise ValueError("renew at most every half lease, so one lost renewal does not end a connection")
        self._commands, self._clock = commands, clock
        self._lease, self._renew, self._idle = lease, renew, lease if idle is None else idle
        self._sweep_every = renew / 3 if sweep_every is None else sweep_every
        self._send_timeout, self._retry_max = send_timeout, retry_max
        self._ordered: deque[RecordConnection] = deque()  # opens and closes: never dropped
        self._renewals: dict[tuple[str, str], RecordConnection] = {}  # (studio, connection): the latest only
        self._open: dict[tuple[str, str], _Open] = {}  # WebSockets and HTTP connections, by (studio, connection)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set while no open or close waits
        self._drained.set()
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the proxy reports ---------------------------------------------------------------------------------

    def opened(self, state: State, user: ProxyUser, connection_id: str) -> None:
        now = self._clock()
        self._open[(state.session_id, connection_id)] = _Open(state.session_id, state.run, str(user.user_id),
                                                              user.user_name, now, now)
        self._queue(self._record(state.session_id, state.run, str(user.user_id), user.user_name, connection_id,
                                 connected=True))
        self._start("proxy-connections-sweeper", self._sweep_forever)

    def closed(self, state: State, user: ProxyUser, connection_id: str) -> None:
        self._close((state.session_id, connection_id))

    def seen(self, state: State, user: ProxyUser) -> None:
        """An HTTP request: open the user's HTTP connection, or mark it used (renewed at the next sweep)."""
        key = (state.session_id, http_connection_id(str(user.user_id), state.run))
        entry = self._open.get(key)
        if entry is None:
            self.opened(state, user, key[1])
        else:
            entry.last_seen = self._clock()
            self._renew_if_due(key, entry)

    def sweep(self) -> None:
        """Renew what is due, close HTTP connections unused for longer than ``idle`` (the sweeper calls this)."""
        now = self._clock()
        for key, entry in list(self._open.items()):
            if key[1].startswith("http-") and (now - entry.last_seen).total_seconds() > self._idle:
                self._close(key)
            else:
                self._renew_if_due(key, entry)

    # -- lifetime -----------------------------------------------------------------------------------------------

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Close every connection this gateway holds, send what is queued (bounded wait), stop the tasks."""
        for key in list(self._open):
            self._close(key)
        self._renewals.clear()
        if self._ordered:
            self._start("proxy-connections-worker", self._work)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), flush_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- internals ----------------------------------------------------------------------------------------------

    def _record(self, session_id: str, run: int, user_id: str, user_name: str | None, connection_id: str, *,
                connected: bool, active: bool = False) -> RecordConnection:
        return RecordConnection(session_id=session_id, now=self._clock(), actor=user_id, user_id=user_id,
                                user_name=user_name, connection_id=connection_id, connected=connected, run=run,
                                active=active, lease_seconds=self._lease if connected else None)

    def _close(self, key: tuple[str, str]) -> None:
        entry = self._open.pop(key, None)
        self._renewals.pop(key, None)  # a renewal after its close would open the connection again
        if entry is not None:
            self._queue(self._record(entry.session_id, entry.run, entry.user_id, entry.user_name, key[1],
                                     connected=False))

    def _renew_if_due(self, key: tuple[str, str], entry: _Open) -> None:
        now = self._clock()
        if (now - entry.last_sent).total_seconds() < self._renew:
            return
        if key[1].startswith("http-") and entry.last_seen <= entry.last_sent:
            return  # an HTTP connection is renewed only when it was used; unused, it is closed by the sweep
        entry.last_sent = now
        if key in self._renewals:
            _coalesced.inc()
        self._renewals[key] = self._record(entry.session_id, entry.run, entry.user_id, entry.user_name, key[1],
                                           connected=True, active=True)
        self._wake_worker()

    def _queue(self, cmd: RecordConnection) -> None:
        self._ordered.append(cmd)
        self._drained.clear()
        self._wake_worker()

    def _wake_worker(self) -> None:
        self._wake.set()
        self._start("proxy-connections-worker", self._work)

    def _start(self, name: str, body: Callable[[], object]) -> None:
        if any(t.get_name() == name and not t.done() for t in self._tasks):
            return
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.get_running_loop().create_task(body(), name=name))  # type: ignore[arg-type]

    async def _work(self) -> None:
        delay = 0.05
        while True:
            if self._ordered:
                if await self._send(self._ordered[0]):
                    self._ordered.popleft()
                    delay = 0.05
                    if not self._ordered:
                        self._drained.set()
                else:  # kept at the head, so a close never overtakes its open
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max)
            elif self._renewals:
                key = next(iter(self._renewals))
                await self._send(self._renewals.pop(key))
            else:
                self._wake.clear()
                await self._wake.wait()

    async def _send(self, cmd: RecordConnection) -> bool:
        """True when done with it: taken, or refused for good (the studio is gone). False: try again."""
        what = "renewal" if cmd.active else "open" if cmd.connected else "close"
        try:
            await asyncio.wait_for(self._commands.send(cmd), self._send_timeout)
            return True
        except StudiosError as e:
            if e.status < 500:
                log.info("connection %s %s of studio %s refused: %s", cmd.connection_id, what, cmd.session_id, e)
                return True
            error: Exception = e
        except Exception as e:
            error = e
        log.warning("could not record connection %s %s of studio %s (will retry): %r", cmd.connection_id, what,
                    cmd.session_id, error)
        return cmd.active  # a renewal is not retried: the next one comes within the lease

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            self.sweep()


def tracker_with_lease(commands: CommandSender, lease: float = LEASE) -> ConnectionTracker:
    """A tracker whose connections last ``lease`` seconds unrenewed, renewed three times within it (at most
    every 30 s): ``STUDIOS_CONNECTION_LEASE_SECONDS``."""
    return ConnectionTracker(commands, lease=lease, renew=min(RENEW, lease / 3))


def http_connection_id(user_id: str, run: int) -> str:
    return f"http-{user_id}-{run}"
