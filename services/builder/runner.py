"""The build runner: runs queued attempts, at most K at once, and reports each outcome to the build aggregate.

One task per build id: a second submit of a build already under way here does nothing (identical requests share
one build). A task first waits for one of the K slots (the build stays ``queued``), then records ``BuildStarted``
and only goes on if that was news: a build cancelled meanwhile, or taken by another attempt, is left alone.
A cancel cancels the task, which kills the installer's process group (``environments/uv.py``).

After a restart (``recover``), queued attempts are run again and running ones, whose builder died under them,
are retried or failed with the reason (``RecoverBuild``): no build, and so no studio, waits forever. A running
attempt holds its build's advisory lock, so several builder processes can share one store: recovery leaves alone
what another live builder is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from libs.contracts import build as contract
from libs.contracts.build import BuildStatus
from libs.contracts.build_commands import CompleteBuild, FailBuild, RecoverBuild, StartBuild
from services.builder.environments.base import BuildError
from services.builder.environments.routing import Environments
from services.builder.handlers import BuilderHandlers

log = logging.getLogger("studios.builder.runner")
ACTOR = "builder"

#: Not the stream's own name: appends take a transaction lock keyed by the stream name, which this would block.
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
_OPEN_BUILDS = """SELECT DISTINCT ON (stream_name) stream_name, event_type FROM es.events
  WHERE category = $1 ORDER BY stream_name, stream_position DESC"""


class BuildRunner:
    def __init__(self, handlers: BuilderHandlers, envs: Environments, *, max_concurrent: int = 2,
                 timeout: float = 1800.0, max_attempts: int = 3) -> None:
        self.handlers, self.envs = handlers, envs
        self.timeout, self.max_attempts = timeout, max_attempts
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: attempts that ran here to an end, for the benchmark and the tests ("one build, not ten")
        self.builds_run = 0
        self.running = 0
        self.peak_running = 0
        handlers.queued = self.submit
        handlers.cancelled = self.cancel

    def submit(self, build_id: str, attempt: int) -> None:
        task = self._tasks.get(build_id)
        if task is not None and not task.done():
            return
        self._tasks[build_id] = asyncio.create_task(self._run(build_id, attempt), name=f"build-{build_id}")

    def cancel(self, build_id: str) -> None:
        task = self._tasks.get(build_id)
        if task is not None and not task.done():
            task.cancel()

    async def drain(self, timeout: float) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def recover(self) -> int:
        """Take up what the last builder left open; returns how many builds that was."""
        rows = await self.handlers.store.pool.fetch(_OPEN_BUILDS, contract.CATEGORY)
        count = 0
        for row in rows:
            if row["event_type"] not in ("BuildRequested", "BuildStarted"):
                continue
            build_id = row["stream_name"].split("-", 1)[1]
            state = await self.handlers.state(build_id)
            if state.status is BuildStatus.RUNNING and not self._under_way(build_id) and await self._free(build_id):
                await self.handlers.record(RecoverBuild(build_id=build_id, actor=ACTOR,
                                                        max_attempts=self.max_attempts))  # queues: submit
                count += 1
            elif state.status is BuildStatus.QUEUED:
                self.submit(build_id, state.attempt)
                count += 1
        return count

    def _under_way(self, build_id: str) -> bool:
        task = self._tasks.get(build_id)
        return task is not None and not task.done()

    @contextlib.asynccontextmanager
    async def _lease(self, build_id: str) -> AsyncIterator[bool]:
        """The build's advisory lock, held on a connection of its own while the attempt runs, so a builder that
        starts meanwhile (``recover``) leaves a build another live builder is running alone. A killed builder's
        connection closes with it, and PostgreSQL lets the lock go."""
        async with self.handlers.store.pool.acquire() as conn:
            held = bool(await conn.fetchval(_TRY_LOCK, f"builder-lease:{build_id}"))
            try:
                yield held
            finally:
                if held:
                    await conn.fetchval(_UNLOCK, f"builder-lease:{build_id}")

    async def _free(self, build_id: str) -> bool:
        async with self._lease(build_id) as held:
            return held

    async def _run(self, build_id: str, attempt: int) -> None:
        try:
            async with self._slots, self._lease(build_id) as held:
                if held:  # else another builder process runs this very build
                    await self._attempt(build_id, attempt)
        except asyncio.CancelledError:
            log.info("build %s attempt %s cancelled", build_id, attempt)
            raise
        except Exception:
            log.exception("build %s attempt %s: reporting failed", build_id, attempt)

    async def _attempt(self, build_id: str, attempt: int) -> None:
        state = await self.handlers.state(build_id)
        if state.status is not BuildStatus.QUEUED or state.attempt != attempt or state.spec is None:
            return
        started = await self.handlers.record(StartBuild(build_id=build_id, actor=ACTOR, attempt=attempt))
        if not (started.result or {}).get("events"):
            return
        out = self.handlers.logs.open(build_id, attempt)
        t0 = time.monotonic()
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        outcome = "build failed"
        try:
            artifact = await asyncio.wait_for(self.envs.build(build_id, state.spec, out), self.timeout)
        except BuildError as e:
            await self._fail(build_id, attempt, str(e))
        except TimeoutError:
            await self._fail(build_id, attempt, f"the build took longer than {self.timeout:.0f}s")
        except asyncio.CancelledError:
            outcome = "build cancelled"
            raise
        except Exception as e:
            await self._fail(build_id, attempt, f"{type(e).__name__}: {e}")
        else:
            duration = time.monotonic() - t0
            outcome = f"build succeeded in {duration:.2f}s"
            await self.handlers.record(CompleteBuild(build_id=build_id, actor=ACTOR, attempt=attempt,
                                                     artifact=artifact, duration_seconds=round(duration, 3)))
        finally:
            self.running -= 1
            self.builds_run += 1
            out.close(outcome)

    async def _fail(self, build_id: str, attempt: int, message: str) -> None:
        await self.handlers.record(FailBuild(build_id=build_id, actor=ACTOR, attempt=attempt, message=message))
