"""Exit watcher: a running session whose tool ends on its own is recorded at once, not at the next reconcile pass.

One task per running session waits on the backend (``ComputeBackend.wait``: a pidfd for local tools). When the
tool ends while its studio is still ``running`` with the same run, the watcher records the end — the exit code, the
tool's last output lines in the status message, the reason in the history, the run's usage — and then stops what
the tool left behind (children it backgrounded, anything else in its cgroup). A stop that was asked for is the
runner's to record: the watcher sees ``stopping`` and leaves it alone.

Before the end is recorded the run's checkpoint is finalized (``finalize``, the runner's), as a stop does: what the
tool wrote after the last interim save is kept. Unchanged files are not read again, so this is quick unless the tool
changed much just before it died; a failed save is logged and never holds the end back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from libs.contracts.studio import ResourceUsage, StudioStatus
from libs.contracts.studio_commands import RecordSessionStopped
from libs.contracts.studio_state import State
from services.lifecycle.backends.base import ComputeBackend, Handle, Status, Usage
from services.lifecycle.handlers import StudioHandlers, utcnow
from services.lifecycle.sessions.claims import SessionClaims

log = logging.getLogger("studios.lifecycle.watcher")
ACTOR = "lifecycle"
LEFTOVER_GRACE = 5.0  # seconds a leftover child gets between SIGTERM and SIGKILL


def usage_fact(usage: Usage | None) -> ResourceUsage | None:
    if usage is None:
        return None
    return ResourceUsage(peak_memory_mb=usage.peak_memory_mb, avg_cpu_millicores=usage.avg_cpu_millicores,
                         peak_cpu_millicores=usage.peak_cpu_millicores)


def ending(status: Status) -> tuple[str, str]:
    """(status message, history reason) for a tool that ended on its own."""
    code = status.exit_code
    if code is None:
        what = "exited (exit code unknown)"
    elif code < 0:
        what = f"was killed by signal {-code}"
    else:
        what = f"exited with code {code}"
    message = f"The tool {what}." + (f" Last output:\n{status.message}" if status.message else "")
    return message, f"the tool {what} on its own"


class ExitWatcher:
    def __init__(self, handlers: StudioHandlers, backend: ComputeBackend,
                 finalize: Callable[[State], Awaitable[None]] | None = None) -> None:
        self.handlers, self.backend, self.finalize = handlers, backend, finalize
        #: with replicas, another process may watch the same tool (its reconciler adopted it): the end is
        #: recorded under the studio's claim, and whoever comes second finds it recorded (``claims.py``)
        self.claims: SessionClaims | None = None
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}  # studio -> (run key, task)

    def watching(self, session_id: str) -> bool:
        current = self._tasks.get(session_id)
        return current is not None and not current[1].done()

    def watch(self, session_id: str, run: int, handle: Handle) -> None:
        """Watch this run's tool (idempotent: a second call for the same run does nothing)."""
        current = self._tasks.get(session_id)
        if current is not None and not current[1].done():
            if current[0] == handle.session_id:
                return
            current[1].cancel()  # an older run's watcher: that run is over
        task = asyncio.ensure_future(self._watch(session_id, run, handle))
        self._tasks[session_id] = (handle.session_id, task)
        task.add_done_callback(lambda t: self._done(session_id, t))

    def close(self) -> None:
        for _, task in self._tasks.values():
            task.cancel()

    def _done(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(session_id, ("", task))[1] is task:
            self._tasks.pop(session_id, None)
        if not task.cancelled() and task.exception():
            log.error("watching %s failed", session_id, exc_info=task.exception())

    async def _watch(self, session_id: str, run: int, handle: Handle) -> None:
        status = await self.backend.wait(handle)
        if self.claims is None:
            return await self._ended(session_id, run, handle, status)
        async with self.claims.hold(session_id):
            await self._ended(session_id, run, handle, status)

    async def _ended(self, session_id: str, run: int, handle: Handle, status: Status) -> None:
        state = await self.handlers.state(session_id)
        if state.run != run or state.status is not StudioStatus.RUNNING:
            return  # a stop was asked for (its task records the end), or the studio moved on
        usage = await self.backend.usage(handle)
        message, reason = ending(status)
        log.warning("session %s run %s: %s", session_id, run, reason)
        if self.finalize is not None:
            await self.finalize(state)
        await self.handlers.handle(RecordSessionStopped(
            session_id=session_id, now=utcnow(), actor=ACTOR, run=run, exit_code=status.exit_code,
            message=message, reason=reason, usage=usage_fact(usage)))
        await self.backend.stop(handle, grace=LEFTOVER_GRACE)  # what it left running goes with it
        await self.backend.usage(handle)  # the stop's final figures: already recorded, so only let go of them
