"""The OS side of local sessions: the children we spawned, process groups, and waiting for a process to end.

A pid only counts as a session if its OS create time matches the handle's, so a reused pid is never mistaken for
(or killed as) a session. Exit codes are known only for processes this OS process started (only a parent can
reap a child); an adopted session that ended reports None.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from pathlib import Path

import psutil

from services.lifecycle.backends.base import Handle, LaunchError

CREATE_TIME_SLACK = 1.0  # seconds; create times are derived from boot time and can drift across processes

# Children of this OS process, keyed by (pid, create time). Only the parent can reap a child and learn its exit
# code, and that holds for every LocalBackend instance in the process, so this is process-wide on purpose.
_CHILDREN: dict[tuple[int, float], subprocess.Popen[bytes]] = {}


def adopt_child(child: subprocess.Popen[bytes], started_at: float) -> None:
    _CHILDREN[(child.pid, started_at)] = child


def poll_child(handle: Handle) -> int | None:
    child = _CHILDREN.get((int(handle.ident), handle.started_at))
    return None if child is None else child.poll()


def reap_child(handle: Handle) -> int | None:
    child = _CHILDREN.pop((int(handle.ident), handle.started_at), None)
    return None if child is None else child.poll()


def create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error as error:
        raise LaunchError(f"process {pid} vanished right after it was spawned") from error


def alive(handle: Handle) -> bool:
    """The session's group leader runs (not a zombie) and is the very process we started."""
    try:
        process = psutil.Process(int(handle.ident))
        same = abs(process.create_time() - handle.started_at) < CREATE_TIME_SLACK
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def owns_group(handle: Handle) -> bool:
    """Whether signalling the handle's process group reaches our processes and nobody else's."""
    try:
        leader = psutil.Process(int(handle.ident))
        # Linux does not reuse a pid while it still names a process group, so a live leader with another create
        # time means our group is gone entirely; a vanished or zombie leader may have left members behind.
        return abs(leader.create_time() - handle.started_at) < CREATE_TIME_SLACK
    except psutil.Error:
        return bool(group_members(int(handle.ident)))


def group_members(pgid: int) -> list[int]:
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


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone is what we wanted
        os.killpg(pgid, signum)


def signal_pids(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def marked_sessions(state_dir: str) -> list[Handle]:
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


async def exited(handle: Handle) -> None:
    """Return once the session's leader has ended.

    A pidfd becomes readable the moment its process ends, child or not, so the end is seen at once without
    polling; where pidfds are missing (old kernels) it falls back to checking five times a second.
    """
    pidfd = _pidfd(handle)
    if pidfd is None:
        while alive(handle):  # noqa: ASYNC110 - nothing to wait on without a pidfd: polling is the fallback
            await asyncio.sleep(0.2)
        return
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        if not alive(handle):  # the pid may have ended (and been reused) before the pidfd was opened
            return
        await asyncio.shield(ended)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def _pidfd(handle: Handle) -> int | None:
    try:
        return os.pidfd_open(int(handle.ident))
    except (AttributeError, OSError):
        return None


def tail(path: Path, lines: int = 10, limit: int = 4096) -> str:
    """The last ``lines`` lines of a log (from its last ``limit`` bytes), for an error message."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - limit))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip("\n").splitlines()[-lines:])


def live(pids: list[int]) -> list[int]:
    """Pids that are not zombies: a zombie in a cgroup has ended; its parent (init, or us) reaps it."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
    return found


def group_totals(pgid: int) -> tuple[float | None, int | None]:
    """Cpu seconds and resident bytes of the process group's live members (sampling, without a cgroup)."""
    cpu, rss = 0.0, 0
    for pid in group_members(pgid):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            times = process.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
            rss += process.memory_info().rss
    return cpu, rss
