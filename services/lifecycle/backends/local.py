"""LocalBackend: each session's tool is a child process group on this machine, bound to 127.0.0.1.

- Own session and process group (``start_new_session``), no pipes (stdout goes to ``<state_dir>/logs/<id>.log``,
  stderr to ``<id>.err``), so the tool outlives the lifecycle service that launched it; a restarted service adopts
  it from the JSON record in ``<state_dir>/sessions/<id>.json`` (pid, port, create time, cgroup). Processes:
  ``processes.py``.
- Limits (``limits.py``, ``cgroups.py``): a session cgroup with a CFS quota and a resident-memory limit wherever a
  hierarchy is writable; else CPU affinity to the least-loaded cores and ``RLIMIT_AS``. ``gpu`` is not enforced.
- ``stop`` signals the whole group and everything in the session's cgroup (which also holds children that called
  ``setsid``): SIGTERM, then SIGKILL after the grace period, and waits until no process of either is left.
- ``wait`` wakes the moment the tool's main process ends (a pidfd), sampling usage meanwhile; ``usage`` reports
  peak memory and cpu from cgroup accounting, or from sampling the group's processes without one.
- Secret: see ``tools.py``. The environment is a short allow-list plus the spec's, so the control plane's own
  secrets (database URLs, ...) never reach user code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from libs.logs.tail import stderr_path
from services.lifecycle.backends import limits, mounts, processes, tools
from services.lifecycle.backends.base import Handle, LaunchError, LaunchSpec, SessionState, Status, Usage
from services.lifecycle.backends.cgroups import Layout, SessionGroup, detect
from services.lifecycle.backends.output import follow_file
from services.lifecycle.backends.ports import free_port, wait_until_answers
from services.lifecycle.backends.records import SessionRecords
from services.lifecycle.backends.tools import build_command
from services.lifecycle.backends.usage import Meter

log = logging.getLogger("studios.lifecycle.local")
_INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")
_POLL = 0.05
SAMPLE_EVERY = 1.0  # seconds between usage samples while a session is watched


class LocalBackend:
    name = "local"

    def __init__(self, state_dir: Path, grace: float = 30.0, cgroups: bool = True) -> None:
        self.state_dir = state_dir
        self.grace = grace
        self.records = SessionRecords(state_dir)
        self.layout: Layout | None = detect(state_dir) if cgroups else None
        self._meters: dict[str, Meter] = {}
        self._final: dict[str, Usage] = {}  # usage of stopped sessions, until asked for

    def log_path(self, session_id: str) -> Path:
        return self.state_dir / "logs" / f"{session_id}.log"

    async def launch(self, spec: LaunchSpec) -> Handle:
        existing = self.records.handle(spec.session_id)
        if existing is not None and processes.alive(existing):
            return existing  # a retried launch must not start a second copy
        port = free_port()
        command = mounts.wrap(build_command(spec, port), spec.read_only_mounts)
        return await asyncio.to_thread(self._spawn, spec, command, port)

    async def ready(self, handle: Handle, timeout: float) -> bool:
        sampler = asyncio.ensure_future(self._sample_every(handle, SAMPLE_EVERY))  # a start is a run's busiest
        try:
            return await wait_until_answers(handle.url + "/", lambda: processes.alive(handle), timeout)
        finally:
            sampler.cancel()

    async def inspect(self, handle: Handle) -> Status:
        code = processes.poll_child(handle)
        if code is not None:
            return Status(SessionState.EXITED, code, self._last_lines(handle))
        if processes.alive(handle):
            return Status(SessionState.RUNNING)
        if self.records.exists(handle.session_id):
            return Status(SessionState.EXITED, None, "ended while not a child of this process: exit code unknown")
        return Status(SessionState.MISSING)

    async def wait(self, handle: Handle) -> Status:
        sampler = asyncio.ensure_future(self._sample_every(handle, SAMPLE_EVERY))
        try:
            await processes.exited(handle)
        finally:
            sampler.cancel()
        self._sample(handle)
        status = await self.inspect(handle)
        return Status(status.state, status.exit_code, self._last_lines(handle) or status.message)

    async def usage(self, handle: Handle) -> Usage | None:
        if handle.session_id in self._final:
            return self._final.pop(handle.session_id)
        if not self.records.exists(handle.session_id):
            return None
        return self._sample(handle).usage()

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        group = self._group(handle)
        meter = self._sample(handle)
        if processes.owns_group(handle) or (group is not None and group.pids()):
            self._signal(handle, group, signal.SIGTERM)
            if not await self._gone(handle, group, self.grace if grace is None else grace):
                self._signal(handle, group, signal.SIGKILL)
                await self._gone(handle, group, 5.0)
        code = processes.reap_child(handle)
        if self.records.exists(handle.session_id):
            self._add_reading(meter, group, handle)  # cgroup accounting outlives the processes
            self._final[handle.session_id] = meter.usage()
        self._meters.pop(handle.session_id, None)
        if group is not None:
            group.remove()
        self.records.remove(handle.session_id)
        return code

    async def list_sessions(self) -> list[Handle]:
        found: dict[str, Handle] = {}
        for handle in self.records.handles():
            if processes.alive(handle):
                found[handle.session_id] = handle
            elif self._leftovers(handle):
                # Its main process ended while nobody watched (no lifecycle running): the session is over, and
                # what it left running (a backgrounded server, say) must not outlive it.
                log.warning("session %s ended; stopping the processes it left behind", handle.session_id)
                await self.stop(handle, grace=2.0)
        # A launcher killed between spawning a tool and writing its record leaves a live session no record
        # names; the environment marker finds it, so it is adopted (or stopped) instead of started twice.
        for handle in await asyncio.to_thread(processes.marked_sessions, str(self.state_dir.resolve())):
            if handle.session_id not in found:
                found[handle.session_id] = handle
                group = self.layout.group(handle.session_id) if self.layout else None
                self.records.write(handle, None, group if group and group.exists() else None)
        return list(found.values())

    async def output(self, handle: Handle) -> AsyncIterator[bytes]:
        path = self.log_path(handle.session_id)
        if not path.exists():
            return
        async for chunk in follow_file(path, lambda: processes.alive(handle)):
            yield chunk

    # -- spawning -------------------------------------------------------------------------------------------

    def _spawn(self, spec: LaunchSpec, command: list[str], port: int) -> Handle:
        group = self._new_group(spec)
        cores = None if group else limits.fallback_cores(spec.cpu, self._live_leaders())
        try:
            child = self._popen(spec, command, port, limits.preexec(group, spec.memory_mib, cores))
        except (OSError, subprocess.SubprocessError) as error:  # missing executable, unwritable workspace, ...
            if group is not None:
                group.remove()
            raise LaunchError(f"cannot start {command[0]!r} for session {spec.session_id}: {error}") from error
        started = processes.create_time(child.pid)
        description = limits.describe(group, spec.cpu, spec.memory_mib, cores)
        handle = Handle(spec.session_id, self.name, str(child.pid), "127.0.0.1", port, started, description)
        processes.adopt_child(child, started)
        self.records.write(handle, spec, group)
        self._meters[spec.session_id] = Meter(started_at=started)
        return handle

    def _new_group(self, spec: LaunchSpec) -> SessionGroup | None:
        if self.layout is None:
            return None
        group = self.layout.group(spec.session_id)
        try:
            group.create(spec.cpu, spec.memory_mib)
        except OSError as error:
            log.warning("no cgroup for session %s (%s); falling back to affinity and RLIMIT_AS",
                        spec.session_id, error)
            group.remove()
            return None
        return group

    def _popen(self, spec: LaunchSpec, command: list[str], port: int,
               preexec: Callable[[], None] | None) -> subprocess.Popen[bytes]:
        spec.workspace_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(spec.session_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copies of the descriptors; we keep no pipe. stderr has a file of its own, so
        # its lines stay ``stderr`` in the logs (libs/logs/tail.py).
        with log_path.open("ab") as log_file, stderr_path(log_path).open("ab") as err_file:
            return subprocess.Popen(
                command, cwd=spec.workspace_dir, env=_environment(spec, port, self.state_dir),
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=err_file,
                start_new_session=True, preexec_fn=preexec,
            )

    def _leftovers(self, handle: Handle) -> bool:
        group = self._group(handle)
        in_group = processes.owns_group(handle) and bool(processes.group_members(int(handle.ident)))
        return in_group or (group is not None and bool(processes.live(group.pids())))

    def _live_leaders(self) -> list[int]:
        return [int(h.ident) for h in self.records.handles() if processes.alive(h)]

    # -- stopping and usage -----------------------------------------------------------------------------------

    def _signal(self, handle: Handle, group: SessionGroup | None, signum: int) -> None:
        if processes.owns_group(handle):
            processes.signal_group(int(handle.ident), signum)
        if group is not None:
            group.signal(signum)

    async def _gone(self, handle: Handle, group: SessionGroup | None, within: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            processes.poll_child(handle)  # reap our own leader so it does not linger as a zombie
            left = processes.group_members(int(handle.ident)) if processes.owns_group(handle) else []
            if not left and not (group is not None and processes.live(group.pids())):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL)

    def _sample(self, handle: Handle) -> Meter:
        meter = self._meters.setdefault(handle.session_id, Meter(started_at=handle.started_at))
        self._add_reading(meter, self._group(handle), handle)
        return meter

    def _add_reading(self, meter: Meter, group: SessionGroup | None, handle: Handle) -> None:
        if group is not None and group.exists():
            now, peak = group.memory_bytes()
            meter.add(time.time(), group.cpu_seconds(), now, peak)
            return
        cpu, rss = processes.group_totals(int(handle.ident)) if processes.owns_group(handle) else (None, None)
        meter.add(time.time(), cpu, rss)

    async def _sample_every(self, handle: Handle, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self._sample, handle)

    def _group(self, handle: Handle) -> SessionGroup | None:
        return self.records.group(handle.session_id)

    def _last_lines(self, handle: Handle) -> str:
        """For a failure message: the tool's last stderr lines first (why it failed), then its last stdout lines."""
        path = self.log_path(handle.session_id)
        return "\n".join(t for t in (processes.tail(stderr_path(path)), processes.tail(path)) if t)


def _environment(spec: LaunchSpec, port: int, state_dir: Path) -> dict[str, str]:
    env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
    env["PYTHONUNBUFFERED"] = "1"  # so the captured log is current, for the logs service
    env.update(spec.environment)
    env.update(tools.environment(spec, env))  # the built environment, when the studio has one
    env.update(  # last, so the spec cannot override the markers list_sessions and the tools rely on
        CONNECT_TOOL_PORT=str(port),
        STUDIOS_SESSION_ID=spec.session_id,
        STUDIOS_STUDIO_ID=spec.studio_id,
        STUDIOS_SESSION_SECRET=spec.secret,
        STUDIOS_BASE_PATH=spec.base_path,
        STUDIOS_BACKEND_DIR=str(state_dir.resolve()),  # which backend launched it (see processes.marked_sessions)
    )
    return env
