"""In-memory backends named for how they behave, for fast tests of the lifecycle handlers.

``FakeBackend`` is proven against ``LocalBackend`` by tests/integration/test_backend_contract.py; the others
bend one behaviour each, like jupyterhub's ``SlowSpawner`` / ``NeverSpawner`` / ``BadSpawner``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

from services.lifecycle.backends.base import Handle, LaunchError, LaunchSpec, SessionState, Status, Usage
from services.lifecycle.backends.tools import build_command


class FakeBackend:
    """Instant and well-behaved: a launched session is ready at once and runs until stopped."""

    name = "fake"

    def __init__(self) -> None:
        self.launched: list[LaunchSpec] = []  # every spec it was asked to launch, for assertions
        self.stopped: list[Handle] = []
        self.output_by_session: dict[str, bytes] = {}
        self._running: dict[str, Handle] = {}
        self._exited: dict[str, int] = {}
        self._ended: dict[str, asyncio.Event] = {}  # set when the session's "process" ends: what wait() waits on
        self._ids = itertools.count(1)
        self.usage_by_session: dict[str, Usage] = {}  # what usage() reports; a fixed small figure by default

    async def launch(self, spec: LaunchSpec) -> Handle:
        if spec.session_id in self._running:
            return self._running[spec.session_id]  # idempotent, like LocalBackend
        number = next(self._ids)
        build_command(spec, 20000 + number)  # same validation errors as the real backends
        handle = Handle(spec.session_id, self.name, str(number), "127.0.0.1", 20000 + number, time.time())
        self.launched.append(spec)
        self._running[spec.session_id] = handle
        self._exited.pop(spec.session_id, None)
        self._ended[spec.session_id] = asyncio.Event()
        return handle

    async def ready(self, handle: Handle, timeout: float) -> bool:
        return handle.session_id in self._running

    async def inspect(self, handle: Handle) -> Status:
        if handle.session_id in self._running:
            return Status(SessionState.RUNNING)
        if handle.session_id in self._exited:
            return Status(SessionState.EXITED, self._exited[handle.session_id])
        return Status(SessionState.MISSING)

    async def wait(self, handle: Handle) -> Status:
        ended = self._ended.get(handle.session_id)
        if ended is not None and handle.session_id in self._running:
            await ended.wait()
        status = await self.inspect(handle)
        output = self.output_by_session.get(handle.session_id, b"").decode(errors="replace")
        return Status(status.state, status.exit_code, "\n".join(output.splitlines()[-10:]))

    async def usage(self, handle: Handle) -> Usage | None:
        if handle.session_id not in self._running and handle.session_id not in self._exited:
            return self.usage_by_session.pop(handle.session_id, None)
        return self.usage_by_session.setdefault(handle.session_id, Usage(1, 1, 1))

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        self.stopped.append(handle)
        self._end(handle)
        if self._running.pop(handle.session_id, None) is not None:
            return 0
        return self._exited.pop(handle.session_id, None)  # after stop the session is forgotten, as in local

    async def list_sessions(self) -> list[Handle]:
        return list(self._running.values())

    async def output(self, handle: Handle) -> AsyncIterator[bytes]:
        if data := self.output_by_session.get(handle.session_id):
            yield data

    def crash(self, handle: Handle, exit_code: int = 1) -> None:
        """Test helper: the tool dies on its own, as a real process would."""
        if self._running.pop(handle.session_id, None) is not None:
            self._exited[handle.session_id] = exit_code
            self._end(handle)

    def _end(self, handle: Handle) -> None:
        self.usage_by_session.setdefault(handle.session_id, Usage(1, 1, 1))
        if ended := self._ended.get(handle.session_id):
            ended.set()


class SlowBackend(FakeBackend):
    """Becomes ready only ``delay`` seconds after launch."""

    def __init__(self, delay: float = 1.0) -> None:
        super().__init__()
        self.delay = delay
        self._launched_at: dict[str, float] = {}

    async def launch(self, spec: LaunchSpec) -> Handle:
        handle = await super().launch(spec)
        self._launched_at.setdefault(spec.session_id, time.monotonic())
        return handle

    async def ready(self, handle: Handle, timeout: float) -> bool:
        remaining = self._launched_at.get(handle.session_id, 0.0) + self.delay - time.monotonic()
        await asyncio.sleep(max(0.0, min(remaining, timeout)))
        return remaining <= timeout and await super().ready(handle, timeout)


class NeverReadyBackend(FakeBackend):
    """Launches fine, but the tool never answers: ready() always times out."""

    async def ready(self, handle: Handle, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return False


class CrashingBackend(FakeBackend):
    """The tool dies right after it is spawned, with ``exit_code``."""

    def __init__(self, exit_code: int = 1) -> None:
        super().__init__()
        self.exit_code = exit_code

    async def launch(self, spec: LaunchSpec) -> Handle:
        handle = await super().launch(spec)
        self.crash(handle, self.exit_code)
        return handle


class FailingBackend(FakeBackend):
    """launch() raises LaunchError, as when the tool is missing or the machine is out of capacity."""

    async def launch(self, spec: LaunchSpec) -> Handle:
        raise LaunchError(f"cannot start session {spec.session_id}: FailingBackend always fails")
