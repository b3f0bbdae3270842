"""Connection tracking for the proxy: ``RecordConnection`` commands that keep a studio's active connections.

A WebSocket is one connection from open to close. Plain HTTP has no "close", so a (studio, user, run) seen over
HTTP counts as one connection ``http-<user>-<run>``: opened when first seen (re-sent at most once a ``refresh``),
closed by a sweeper once idle for longer than ``idle``.

Tracking must never slow down or fail a proxied request: commands go into a bounded queue (dropped, counted and
logged when it is full) and one worker sends them in order (so a short WebSocket's close never overtakes its open),
each with a timeout, logging failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from libs.contracts.studio_commands import RecordConnection
from libs.contracts.studio_state import State
from libs.platform.clock import now as utcnow
from libs.platform.metrics import ServiceMetrics
from services.gateway.commands import CommandSender
from services.gateway.proxy.admission import ProxyUser

log = logging.getLogger(__name__)
_dropped = ServiceMetrics("gateway").counter("proxy_connection_records_dropped_total",
                                             "Connection records dropped because the queue was full")


@dataclass
class _Seen:
    user_name: str | None
    last_seen: datetime
    last_sent: datetime


class ConnectionTracker:
    def __init__(self, commands: CommandSender, *, clock: Callable[[], datetime] = utcnow, refresh: float = 60.0,
                 idle: float = 300.0, sweep_every: float = 30.0, max_pending: int = 1000,
                 send_timeout: float = 10.0) -> None:
        self._commands = commands
        self._clock = clock
        self._refresh, self._idle, self._sweep_every = refresh, idle, sweep_every
        self._send_timeout = send_timeout
        self._queue: asyncio.Queue[RecordConnection] = asyncio.Queue(max_pending)
        self._http: dict[tuple[str, str, int], _Seen] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- what the proxy reports ---------------------------------------------------------------------------------

    def opened(self, state: State, user: ProxyUser, connection_id: str) -> None:
        self._record(state, str(user.user_id), user.user_name, connection_id, True)

    def closed(self, state: State, user: ProxyUser, connection_id: str) -> None:
        self._record(state, str(user.user_id), user.user_name, connection_id, False)

    def seen(self, state: State, user: ProxyUser) -> None:
        """An HTTP request: open the user's HTTP connection, or refresh it once per ``refresh`` seconds."""
        now, user_id = self._clock(), str(user.user_id)
        key = (state.session_id, user_id, state.run)
        entry = self._http.get(key)
        if entry is None or (now - entry.last_sent).total_seconds() >= self._refresh:
            self._record(state, user_id, user.user_name, http_connection_id(user_id, state.run), True)
            entry = self._http[key] = _Seen(user.user_name, now, now)
        entry.last_seen = now
        self._start_sweeper()

    def sweep(self) -> None:
        """Close the HTTP connections idle for longer than ``idle`` (the sweeper calls this)."""
        now = self._clock()
        for key, entry in list(self._http.items()):
            if (now - entry.last_seen).total_seconds() > self._idle:
                del self._http[key]
                self._close_http(key, entry)

    # -- lifetime -----------------------------------------------------------------------------------------------

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Close every HTTP connection, send what is queued (bounded wait), stop the tasks."""
        for key, entry in list(self._http.items()):
            self._close_http(key, entry)
        self._http.clear()
        if self._queue.qsize():
            self._start_worker()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), flush_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- internals ----------------------------------------------------------------------------------------------

    def _close_http(self, key: tuple[str, str, int], entry: _Seen) -> None:
        session_id, user_id, run = key
        cmd = RecordConnection(session_id=session_id, now=self._clock(), actor=user_id, user_id=user_id,
                               user_name=entry.user_name, connection_id=http_connection_id(user_id, run),
                               connected=False, run=run)
        self._put(cmd)

    def _record(self, state: State, user_id: str, user_name: str | None, connection_id: str,
                connected: bool) -> None:
        self._put(RecordConnection(session_id=state.session_id, now=self._clock(), actor=user_id, user_id=user_id,
                                   user_name=user_name, connection_id=connection_id, connected=connected,
                                   run=state.run))

    def _put(self, cmd: RecordConnection) -> None:
        try:
            self._queue.put_nowait(cmd)
        except asyncio.QueueFull:
            _dropped.inc()
            log.warning("connection record dropped (queue full): %s %s", cmd.session_id, cmd.connection_id)
            return
        self._start_worker()

    def _spawn(self, name: str, loop_body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if any(t.get_name() == name and not t.done() for t in self._tasks):
            return
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.get_running_loop().create_task(loop_body(), name=name))

    def _start_worker(self) -> None:
        self._spawn("proxy-connections-worker", self._work)

    def _start_sweeper(self) -> None:
        self._spawn("proxy-connections-sweeper", self._sweep_forever)

    async def _work(self) -> None:
        while True:
            cmd = await self._queue.get()
            try:
                await asyncio.wait_for(self._commands.send(cmd), self._send_timeout)
            except Exception as e:
                log.warning("could not record connection %s of studio %s: %r", cmd.connection_id,
                            cmd.session_id, e)
            finally:
                self._queue.task_done()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            self.sweep()


def http_connection_id(user_id: str, run: int) -> str:
    return f"http-{user_id}-{run}"
