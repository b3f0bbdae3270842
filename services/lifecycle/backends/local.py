"""LocalBackend: each session's tool is a child process group on this machine, bound to 127.0.0.1.

- Own session and process group (``start_new_session``), no pipes (output goes to ``<state_dir>/logs/<id>.log``),
  so the tool outlives the lifecycle service that launched it; a restarted service adopts it from the JSON record
  in ``<state_dir>/sessions/<id>.json`` (pid, pgid, port, create_time). A pid only counts as the session if its OS
  create time matches the record, so a reused pid is never mistaken for (or killed as) a session.
- ``stop`` signals the whole group: SIGTERM, then SIGKILL after the grace period, and waits until no process of the
  group is left.
- Secret: see ``tools.py`` (http-echo checks ``X-Studios-Secret``; jupyter uses it as its token; custom gets it in
  ``STUDIOS_SESSION_SECRET``). The environment is a short allow-list plus the spec's, so the control plane's own
  secrets (database URLs, ...) never reach user code.
- ``memory_mib`` becomes an RLIMIT_AS, an *address-space* limit, not RSS: Python and JupyterLab reserve far more
  virtual memory than they use (thread stacks, malloc arenas), so it is never set below ``ADDRESS_SPACE_FLOOR_MIB``.
  ``cpu`` and ``gpu`` are not enforced locally.
- Exit codes are known only for processes this OS process started; an adopted session that ended reports None.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from services.lifecycle.backends import mounts
from services.lifecycle.backends.base import Handle, LaunchError, LaunchSpec, SessionState, Status
from services.lifecycle.backends.tools import build_command

ADDRESS_SPACE_FLOOR_MIB = 2048
_INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")
_POLL = 0.05
_CREATE_TIME_SLACK = 1.0  # seconds; create times are derived from boot time and can drift across processes

# Children of this OS process, keyed by (pid, create time). Only the parent can reap a child and learn its exit
# code, and that holds for every LocalBackend instance in the process, so this is process-wide on purpose.
_CHILDREN: dict[tuple[int, float], subprocess.Popen[bytes]] = {}


class LocalBackend:
    name = "local"

    def __init__(self, state_dir: Path, grace: float = 30.0) -> None:
        self.state_dir = state_dir
        self.grace = grace

    def log_path(self, session_id: str) -> Path:
        return self.state_dir / "logs" / f"{session_id}.log"

    async def launch(self, spec: LaunchSpec) -> Handle:
        existing = self._read_record(spec.session_id)
        if existing is not None and _alive(existing):
            return existing  # a retried launch must not start a second copy
        port = _free_port()
        command = mounts.wrap(build_command(spec, port), spec.read_only_mounts)
        return await asyncio.to_thread(self._spawn, spec, command, port)

    async def ready(self, handle: Handle, timeout: float) -> bool:
        return await wait_until_answers(handle.url + "/", lambda: _alive(handle), timeout)

    async def inspect(self, handle: Handle) -> Status:
        code = _poll_child(handle)
        if code is not None:
            return Status(SessionState.EXITED, code)
        if _alive(handle):
            return Status(SessionState.RUNNING)
        if self._record_path(handle.session_id).exists():
            return Status(SessionState.EXITED, None, "ended while not a child of this process: exit code unknown")
        return Status(SessionState.MISSING)

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        pgid = int(handle.ident)
        if _owns_group(handle):
            _signal_group(pgid, signal.SIGTERM)
            if not await _wait_group_gone(handle, self.grace if grace is None else grace):
                _signal_group(pgid, signal.SIGKILL)
                await _wait_group_gone(handle, 5.0)
        code = _reap_child(handle)
        self._record_path(handle.session_id).unlink(missing_ok=True)
        return code

    async def list_sessions(self) -> list[Handle]:
        records = (self._read_record(p.stem) for p in sorted((self.state_dir / "sessions").glob("*.json")))
        found = {h.session_id: h for h in records if h is not None and _alive(h)}
        # A launcher killed between spawning a tool and writing its record leaves a live session no record
        # names; the environment marker finds it, so it is adopted (or stopped) instead of started twice.
        for handle in await asyncio.to_thread(_marked_sessions, str(self.state_dir.resolve())):
            if handle.session_id not in found:
                found[handle.session_id] = handle
                self._write_record(handle, None)
        return list(found.values())

    async def output(self, handle: Handle) -> AsyncIterator[bytes]:
        path = self.log_path(handle.session_id)
        if not path.exists():
            return
        with await asyncio.to_thread(path.open, "rb") as log:
            while True:
                running = _alive(handle)  # read after checking, so the last bytes are not lost at exit
                chunk = await asyncio.to_thread(log.read, 65536)
                if chunk:
                    yield chunk
                elif not running:
                    return
                else:
                    await asyncio.sleep(0.2)

    def _spawn(self, spec: LaunchSpec, command: list[str], port: int) -> Handle:
        try:
            child = self._popen(spec, command, port)
        except OSError as error:  # missing executable, unwritable workspace or state dir
            raise LaunchError(f"cannot start {command[0]!r} for session {spec.session_id}: {error}") from error
        handle = Handle(spec.session_id, self.name, str(child.pid), "127.0.0.1", port, _create_time(child.pid))
        _CHILDREN[(child.pid, handle.started_at)] = child
        self._write_record(handle, spec)
        return handle

    def _popen(self, spec: LaunchSpec, command: list[str], port: int) -> subprocess.Popen[bytes]:
        spec.workspace_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(spec.session_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor; we keep no pipe
            return subprocess.Popen(
                command, cwd=spec.workspace_dir, env=_environment(spec, port, self.state_dir),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_limits(spec.memory_mib, spec.cpu),
            )

    def _record_path(self, session_id: str) -> Path:
        return self.state_dir / "sessions" / f"{session_id}.json"

    def _write_record(self, handle: Handle, spec: LaunchSpec | None) -> None:
        record = {**handle.to_dict(), "pid": int(handle.ident), "pgid": int(handle.ident),
                  "create_time": handle.started_at}
        if spec is not None:
            record |= {"studio_id": spec.studio_id, "tool": spec.tool}
        path = self._record_path(handle.session_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)  # atomic: a crash never leaves a half-written record behind

    def _read_record(self, session_id: str) -> Handle | None:
        try:
            data: dict[str, Any] = json.loads(self._record_path(session_id).read_text())
            return Handle.from_dict(data)
        except (OSError, ValueError, KeyError):
            return None


async def wait_until_answers(url: str, alive: Callable[[], bool], within: float) -> bool:
    """True once ``url`` answers with any status below 500; False after ``within`` s or once ``alive()`` is False."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    # trust_env=False: a proxy from the environment must never sit between us and 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False) as client:
        while alive():
            remaining = deadline - loop.time()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, timeout=max(0.1, min(2.0, remaining)))).status_code < 500:
                    return True
            if remaining <= 0:
                return False
            await asyncio.sleep(_POLL)
    return False


def _environment(spec: LaunchSpec, port: int, state_dir: Path) -> dict[str, str]:
    env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
    env["PYTHONUNBUFFERED"] = "1"  # so the captured log is current, for the logs service
    env.update(spec.environment)
    env.update(  # last, so the spec cannot override the markers list_sessions and the tools rely on
        CONNECT_TOOL_PORT=str(port),
        STUDIOS_SESSION_ID=spec.session_id,
        STUDIOS_STUDIO_ID=spec.studio_id,
        STUDIOS_SESSION_SECRET=spec.secret,
        STUDIOS_BASE_PATH=spec.base_path,
        STUDIOS_BACKEND_DIR=str(state_dir.resolve()),  # which backend launched it (see _marked_sessions)
    )
    return env


def _limits(memory_mib: int | None, cpu: int | None) -> Callable[[], None] | None:
    """Memory as an address-space rlimit (never below the floor); cpu as the number of cores the session may use
    (CPU affinity: the closest a plain process gets to a cpu limit without cgroups)."""
    if memory_mib is None and not cpu:
        return None  # no preexec_fn at all: lets subprocess use its faster spawn path
    limit = max(memory_mib, ADDRESS_SPACE_FLOOR_MIB) * 1024 * 1024 if memory_mib is not None else None
    cores = sorted(os.sched_getaffinity(0))[:cpu] if cpu else None

    def apply() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if cores:
            os.sched_setaffinity(0, cores)

    return apply


def _marked_sessions(state_dir: str) -> list[Handle]:
    """Live session group leaders whose environment says this backend launched them."""
    handles = []
    for process in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, OSError, KeyError, ValueError):
            if process.info["status"] == psutil.STATUS_ZOMBIE or os.getpgid(process.pid) != process.pid:
                continue
            env = process.environ()
            if env.get("STUDIOS_BACKEND_DIR") != state_dir:
                continue
            handles.append(Handle(env["STUDIOS_SESSION_ID"], "local", str(process.pid), "127.0.0.1",
                                  int(env["CONNECT_TOOL_PORT"]), process.create_time()))
    return handles


# Ports handed out recently, with when: the kernel may offer a port again as soon as the probe socket closes,
# before the first tool has bound it, and two tools on one port is worse than a failed start: the loser's
# readiness probe is answered by the winner, and the session looks running with a dead process.
_ISSUED: dict[int, float] = {}
_ISSUED_FOR = 120.0  # seconds; far longer than any tool takes to bind its port


def _free_port() -> int:
    now = time.monotonic()
    for port, at in list(_ISSUED.items()):
        if now - at > _ISSUED_FOR:
            del _ISSUED[port]
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _ISSUED:
            _ISSUED[port] = now
            return port
    raise LaunchError("no free port on 127.0.0.1")


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error as error:
        raise LaunchError(f"process {pid} vanished right after it was spawned") from error


def _alive(handle: Handle) -> bool:
    """The session's group leader runs (not a zombie) and is the very process we started."""
    try:
        process = psutil.Process(int(handle.ident))
        same = abs(process.create_time() - handle.started_at) < _CREATE_TIME_SLACK
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _owns_group(handle: Handle) -> bool:
    """Whether signalling the handle's process group reaches our processes and nobody else's."""
    try:
        leader = psutil.Process(int(handle.ident))
        # Linux does not reuse a pid while it still names a process group, so a live leader with another create
        # time means our group is gone entirely; a vanished or zombie leader may have left members behind.
        return abs(leader.create_time() - handle.started_at) < _CREATE_TIME_SLACK
    except psutil.Error:
        return bool(_group_members(int(handle.ident)))


def _group_members(pgid: int) -> list[int]:
    """Pids of the group's processes, zombies excluded (an orphan's zombie is for init to reap, not us)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # fast path: no process at all in the group
    except PermissionError:
        pass
    members = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(OSError):
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone is what we wanted
        os.killpg(pgid, signum)


async def _wait_group_gone(handle: Handle, within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        _poll_child(handle)  # reap our own leader so it does not linger as a zombie
        if not _group_members(int(handle.ident)):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL)


def _poll_child(handle: Handle) -> int | None:
    child = _CHILDREN.get((int(handle.ident), handle.started_at))
    return None if child is None else child.poll()


def _reap_child(handle: Handle) -> int | None:
    child = _CHILDREN.pop((int(handle.ident), handle.started_at), None)
    return None if child is None else child.poll()
