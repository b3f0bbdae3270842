"""The session runner: takes a studio from ``starting`` to ``running`` (or ``errored``) and from ``stopping`` to
``stopped`` on a compute backend, reporting each progress step as a command to the studio aggregate.

It never trusts a message alone: before acting it folds the studio's stream and acts only when the run it was
asked about is still the current one and in the expected status, so redeliveries and the reconciler can call it
freely. One task per studio at a time; a stop cancels a start that is still under way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from libs.contracts.commands import Reply
from libs.contracts.errors import StudiosError
from libs.contracts.studio import ProgressStatus, StudioStatus
from libs.contracts.studio_commands import (
    RecordBuildFailed,
    RecordBuildStarted,
    RecordBuildSucceeded,
    RecordProgress,
    RecordSessionRunning,
    RecordSessionStopped,
    RecordStartFailed,
    StudioCommand,
)
from libs.contracts.studio_state import State
from libs.platform.metrics import LifecycleMetrics
from services.lifecycle.backends.base import ComputeBackend, Handle
from services.lifecycle.handlers import StudioHandlers, utcnow
from services.lifecycle.sessions.builds import BuildClient, Outcome
from services.lifecycle.sessions.checkpointing import Checkpointing
from services.lifecycle.sessions.claims import SessionClaims
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.watcher import ExitWatcher, usage_fact
from services.lifecycle.studio import rules

if TYPE_CHECKING:
    from services.lifecycle.pools.manager import PoolManager

log = logging.getLogger("studios.lifecycle.runner")
T = TypeVar("T")
ACTOR = "lifecycle"
METRICS = LifecycleMetrics()


class StartFailed(Exception):
    pass


@dataclass
class RunnerConfig:
    ready_timeout: float = 180.0
    grace: float = 30.0


class SessionRunner:
    def __init__(self, handlers: StudioHandlers, backend: ComputeBackend, provisioner: Provisioner,
                 config: RunnerConfig | None = None, builds: BuildClient | None = None) -> None:
        self.handlers, self.backend, self.provisioner = handlers, backend, provisioner
        #: asks the builder for a studio's environment (``condaEnvironment``); None: such starts fail with a reason
        self.builds = builds
        #: restores at start and finalizes at stop (``main.py`` sets it); None: starts show nothing restored
        self.checkpoints: Checkpointing | None = None
        #: which lifecycle replica works on a studio (``claims.py``; ``main.py`` sets it); None: only this one
        self.claims: SessionClaims | None = None
        #: warm pools (``main.py`` sets it): a start a pool can honour takes a pooled process (docs/pools.md)
        self.pools: PoolManager | None = None
        self.config = config or RunnerConfig()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._what: dict[str, str] = {}
        #: notices a running tool that ends on its own; the reconciler hands it sessions adopted after a restart
        self.watcher = ExitWatcher(handlers, backend, finalize=self.finalize)

    # -- scheduling ---------------------------------------------------------------------------------------

    def busy(self, session_id: str) -> bool:
        task = self._tasks.get(session_id)
        return task is not None and not task.done()

    def start(self, session_id: str, run: int) -> None:
        if self.busy(session_id):
            return  # a start or stop for this studio is under way; it re-reads the state when it acts
        self._spawn(session_id, f"start:{run}", self._claimed(session_id, lambda: self._start(session_id, run)))

    def stop(self, session_id: str, run: int) -> None:
        task = self._tasks.get(session_id)
        if task and not task.done():
            if self._what.get(session_id, "").startswith("stop"):
                return
            task.cancel()  # a stop wins over a start still under way
        self._spawn(session_id, f"stop:{run}",
                    self._claimed(session_id, lambda: self._stop(session_id, run, previous=task), wait=True))

    async def _claimed(self, session_id: str, work: Callable[[], Awaitable[None]], wait: bool = False) -> None:
        """``work`` under the studio's claim: a start another replica holds it for is left to that one (the
        reconciler resumes it if it is still wanted afterwards); a stop waits for it."""
        if self.claims is None:
            return await work()
        if wait:
            async with self.claims.hold(session_id):
                return await work()
        async with self.claims.attempt(session_id) as taken:
            if taken:
                await work()

    def _spawn(self, session_id: str, what: str, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks[session_id], self._what[session_id] = task, what
        task.add_done_callback(lambda t: self._done(session_id, what, t))

    def _done(self, session_id: str, what: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception():
            log.error("session task %s for %s failed", what, session_id, exc_info=task.exception())

    async def drain(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- start ----------------------------------------------------------------------------------------------

    async def _start(self, session_id: str, run: int) -> None:
        state = await self.handlers.state(session_id)
        if state.run != run or state.status not in (StudioStatus.STARTING, StudioStatus.BUILDING):
            return
        built: Outcome | None = None
        if state.configuration.conda_environment:
            built = await self._build(state)
            if built is None:
                return  # the studio is buildFailed, with the reason
            state = await self.handlers.state(session_id)
            if state.run != run or state.status is not StudioStatus.STARTING:
                return
        handle = await self._find(state)
        try:
            if handle is None:
                handle = await self._launch(state, built)
            await self._step(state, 4, self._ready(state, handle))
        except StartFailed as e:
            await self._record(state, RecordStartFailed, message=str(e))
            if handle is not None:
                await self.backend.stop(handle, grace=5.0)
            return
        reply = await self._record(state, RecordSessionRunning,
                                   handle=handle.to_dict(),
                                   url=f"/connect/{session_id}/")
        if (reply.result or {}).get("events") and state.last_started:
            METRICS.start_seconds.observe(max(0.0, (utcnow() - state.last_started).total_seconds()))
        if not (reply.result or {}).get("events"):
            current = await self.handlers.state(session_id)
            if current.run == run and (current.handle or {}).get("ident") == handle.ident:
                return  # another lifecycle adopted this very process and recorded it first: it is the session
            # The studio moved on (stopped, deleted) while it started: nobody will ever stop this process.
            log.info("session %s run %s is no longer wanted; stopping it", session_id, run)
            await self.backend.stop(handle, grace=5.0)
            return
        self.watcher.watch(session_id, run, handle)

    async def _build(self, state: State) -> Outcome | None:
        """The run's environment, built (or found) by the builder: ``building``, then ``starting``; or
        ``buildFailed`` with the installer's error. A resumed start (the studio already ``building``, or
        ``starting`` after its build) waits for, or reads, the build it recorded."""
        step = rules.BUILD_STEP
        build_id = state.build_id
        if build_id is None:
            await self._record(state, RecordProgress, step=step, status=ProgressStatus.IN_PROGRESS)
            try:
                if self.builds is None:
                    raise StudiosError("this lifecycle has no builder to build the environment with")
                # a container session (docker, kubernetes) runs an image: the template's, with the environment's
                # packages built in (on an engine, or by a Kaniko Job in the cluster: the builder's settings)
                container = await self.provisioner.backend_for(state) in ("docker", "kubernetes")
                base = state.template.repository if container and state.template else None
                build_id = await self.builds.request(state, base or None)
            except StudiosError as e:
                await self._build_failed(state, None, e.detail)
                return None
            await self._record(state, RecordBuildStarted, build_id=build_id, build_url=f"/builds/{build_id}/logs")
        assert self.builds is not None
        outcome = await self.builds.wait(build_id)
        if not outcome.succeeded or (outcome.python_env is None and outcome.image is None):
            await self._build_failed(state, build_id, outcome.message or "the build failed")
            return None
        took = f" in {outcome.duration_seconds:.1f}s" if outcome.duration_seconds is not None else ""
        await self._record(state, RecordProgress, step=step, status=ProgressStatus.SUCCEEDED,
                           detail=f"build {build_id}{took}")
        await self._record(state, RecordBuildSucceeded, build_id=build_id)
        return outcome

    async def _build_failed(self, state: State, build_id: str | None, message: str) -> None:
        await self._record(state, RecordProgress, step=rules.BUILD_STEP, status=ProgressStatus.ERRORED,
                           detail=message)
        await self._record(state, RecordBuildFailed, build_id=build_id, message=message)

    async def _launch(self, state: State, built: Outcome | None = None) -> Handle:
        await self._step(state, 0, self.provisioner.provision(state))
        await self._step(state, 1, self.provisioner.mount(state, self._reporter(state, 1)), warned=True)
        await self._step(state, 2, self._restore(state), detail=lambda line: line)
        spec = await self.provisioner.launch_spec(state)
        if built is not None:  # the build's venv (local) or image (docker) is what the tool runs in
            spec = replace(spec, python_env=built.python_env, image=built.image or spec.image)
        launch = (self.pools.launch(state, spec, self.backend.launch)  # a built environment is never a pool's
                  if self.pools is not None and built is None else self.backend.launch(spec))
        return await self._step(state, 3, launch, detail=lambda h: h.limits or None)

    async def finalize(self, state: State) -> None:
        """The run's final checkpoint (a no-op without a checkpoints service); never raises."""
        if self.checkpoints is not None:
            await self.checkpoints.finalize(state)

    async def _restore(self, state: State) -> str:
        if self.checkpoints is None:
            return "no checkpoints service configured"
        return await self.checkpoints.restore(state)

    async def _ready(self, state: State, handle: Handle) -> None:
        if not await self.backend.ready(handle, timeout=self.config.ready_timeout):
            status = await self.backend.inspect(handle)
            raise StartFailed(f"the tool did not answer within {self.config.ready_timeout:.0f}s "
                              f"({status.state}{': ' + status.message if status.message else ''})")

    async def _step(self, state: State, index: int, work: Awaitable[T], warned: bool = False,
                    detail: Callable[[T], str | None] | None = None) -> T:
        """Run one progress step; with ``warned``, the work's result is the step's warnings; ``detail`` makes the
        succeeded step's line from the result (the launch step: which limits enforcement applied)."""
        label = self._label(state, index)
        await self._record(state, RecordProgress, step=label, status=ProgressStatus.IN_PROGRESS)
        try:
            result = await work
        except StartFailed as e:
            await self._record(state, RecordProgress, step=label, status=ProgressStatus.ERRORED, detail=str(e))
            raise StartFailed(f"{label}: {e}") from e
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
            await self._record(state, RecordProgress, step=label, status=ProgressStatus.ERRORED, detail=why)
            raise StartFailed(f"{label}: {why}") from e
        warnings = tuple(result) if warned and isinstance(result, tuple) else ()
        await self._record(state, RecordProgress, step=label, status=ProgressStatus.SUCCEEDED, warnings=warnings,
                           detail=detail(result) if detail else None)
        return result

    @staticmethod
    def _label(state: State, index: int) -> str:
        index += len(state.progress) - len(rules.progress_steps(""))  # past the build step, when there is one
        return state.progress[index].message if 0 <= index < len(state.progress) else f"step {index}"

    def _reporter(self, state: State, index: int) -> Callable[[str], Awaitable[None]]:
        """What a step under way says of itself (an s3:// link's copy: "Syncing data link <name>: ...")."""
        label = self._label(state, index)

        async def report(detail: str) -> None:
            await self._record(state, RecordProgress, step=label, status=ProgressStatus.IN_PROGRESS, detail=detail)
        return report

    async def _find(self, state: State) -> Handle | None:
        """A process of this very run that outlived an earlier lifecycle: adopt it instead of starting twice."""
        for handle in await self.backend.list_sessions():
            if handle.session_id == state.run_key:
                return handle
        return None

    # -- stop -----------------------------------------------------------------------------------------------

    async def _stop(self, session_id: str, run: int, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        state = await self.handlers.state(session_id)
        if state.run != run:
            return
        handle = Handle.from_dict(state.handle) if state.handle else await self._find(state)
        code = await self.backend.stop(handle, grace=self.config.grace) if handle else None
        usage = usage_fact(await self.backend.usage(handle)) if handle else None
        if state.status is StudioStatus.STOPPING:
            await self.finalize(state)  # the tool has exited; the run is not recorded stopped yet
        if state.status is StudioStatus.STOPPING:
            await self._record(state, RecordSessionStopped, exit_code=code, usage=usage)

    async def _record(self, state: State, command: type[StudioCommand], **fields: Any) -> Reply:
        fields |= {"session_id": state.session_id, "now": utcnow(), "actor": ACTOR, "run": state.run}
        return await self.handlers.handle(command.model_validate(fields))
