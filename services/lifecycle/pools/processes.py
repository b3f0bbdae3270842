"""The pool's processes on this host: spawned, probed, bound to a studio, stopped.

Pooled processes live under ``<state dir>/pool`` in a ``LocalBackend`` of their own (records, logs, cgroups and
the environment marker ``STUDIOS_BACKEND_DIR``), so the sessions' backend never lists them and the reconciler never
takes them for orphans. Each has a class file (``members/<id>.json``), an empty workspace folder of its own
(``workspaces/<id>``, its working directory while it waits; never given to a studio) and a bind FIFO
(``bind/<id>``) in a folder only lifecycle's user may open.

Binding (``bind``) hands a process to the sessions' backend in an order a crash at any point leaves safe:
1. the bind message goes down the FIFO: the process starts serving as the studio (its workspace, base URL, port
   and run secret); 2. the sessions' backend gets the record under the studio's run key, so a resumed start adopts
   it; 3. the output file is moved to the run's; 4. the pool's record goes. Killed before 2, the process is the
   pool's, claimed, and ``recover`` stops it; killed after 2, it is the studio's (``bound`` finds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import sys
import time
from pathlib import Path

from services.lifecycle.backends import processes as os_processes
from services.lifecycle.backends.base import Handle, LaunchSpec
from services.lifecycle.backends.cgroups import SessionGroup
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.backends.tools import build_command
from services.lifecycle.pools.model import PoolClass

MEMBER_PREFIX = "pool-"  # every member's id (``pool-<hex>``): never a run key, which is ``<studio>-<run>``


class NotWaiting(Exception):
    """The pooled process is not waiting on its FIFO (gone, or bound by someone else)."""


class PoolProcesses(LocalBackend):
    name = "local"  # a bound process is a local session like any other

    def __init__(self, state_dir: Path, sessions: LocalBackend, grace: float = 5.0, cgroups: bool = True) -> None:
        super().__init__(state_dir / "pool", grace=grace, cgroups=cgroups)
        self.sessions = sessions
        for folder in (self.bind_dir, self.class_dir, self.workspace_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.bind_dir.chmod(0o700)

    @property
    def bind_dir(self) -> Path:
        return self.state_dir / "bind"

    @property
    def class_dir(self) -> Path:
        return self.state_dir / "members"

    @property
    def workspace_dir(self) -> Path:
        return self.state_dir / "workspaces"

    def fifo(self, member_id: str) -> Path:
        return self.bind_dir / member_id

    # -- spawning and probing ---------------------------------------------------------------------------------------

    async def spawn(self, member_id: str, cls: PoolClass, secret: str) -> Handle:
        """Start a pooled process under the class's limits; it imports the tool and waits (``waiting``)."""
        (self.class_dir / f"{member_id}.json").write_text(json.dumps(cls.__dict__))
        fifo = self.fifo(member_id)
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
        spec = LaunchSpec(session_id=member_id, studio_id=member_id, tool="jupyter",
                          workspace_dir=self.workspace_dir / member_id, base_path="/", secret=secret,
                          cpu=cls.cpu, memory_mib=cls.memory, labels={"pool": cls.compute_env_id})
        command = [sys.executable, "-m", "services.lifecycle.pools.warm", str(fifo)]
        return await asyncio.to_thread(self._spawn, spec, command, 0)

    def _new_group(self, spec: LaunchSpec) -> SessionGroup | None:
        """A member warms in the background: its imports (about 1.4 cpu-seconds) must not slow the start of the
        studio whose take made the pool refill, so its group weighs a tenth of a process until it is bound."""
        group = super()._new_group(spec)
        if group is not None:
            with contextlib.suppress(OSError):
                group.weigh(spec.cpu, background=True)
        return group

    def waiting(self, member_id: str) -> bool:
        """Whether the process waits on its FIFO (warm): opening the write end without blocking fails (ENXIO)
        while no reader has it open. The probe's open and close are an empty read, which the process ignores."""
        try:
            fd = os.open(self.fifo(member_id), os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.close(fd)
        return True

    def class_of(self, member_id: str) -> PoolClass | None:
        try:
            data = json.loads((self.class_dir / f"{member_id}.json").read_text())
            return PoolClass(str(data["compute_env_id"]), str(data["template"]), int(data["cpu"]),
                             int(data["memory"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    async def members(self) -> list[Handle]:
        """Live pooled processes not bound to a studio (a bound one's pool record is dropped here)."""
        bound = {(h.ident, round(h.started_at)) for h in self.sessions.records.handles()}
        out = []
        for handle in await self.list_sessions():
            if not handle.session_id.startswith(MEMBER_PREFIX):
                continue  # not a member (what a tool bound before its markers changed started)
            if (handle.ident, round(handle.started_at)) in bound:
                self.forget(handle.session_id)  # bound, and killed before step 4 of ``bind``
            else:
                out.append(handle)
        return out

    async def retire(self, handle: Handle) -> None:
        await self.stop(handle, grace=self.grace)
        self.forget(handle.session_id)

    def forget(self, member_id: str) -> None:
        self.records.remove(member_id)
        for path in (self.fifo(member_id), self.class_dir / f"{member_id}.json"):
            path.unlink(missing_ok=True)
        ws = self.workspace_dir / member_id
        if ws.is_dir() and not any(ws.iterdir()):
            ws.rmdir()

    # -- binding ----------------------------------------------------------------------------------------------------

    def bind(self, member: Handle, pool_secret: str, spec: LaunchSpec, port: int) -> Handle:
        """Hand the pooled process to the studio ``spec`` describes (see the module's order). Raises NotWaiting
        when nobody reads the FIFO: the process was never told anything and serves nothing."""
        command = build_command(spec, port)
        argv = command[command.index("-m") + 2:]  # the tool's own arguments, after ``python -m <module>``
        # the markers a cold start's tool gets; what it starts (kernels, terminals) is then marked as the
        # sessions' backend's, never taken for a pooled process
        env = {"CONNECT_TOOL_PORT": str(port), "STUDIOS_SESSION_ID": spec.session_id,
               "STUDIOS_STUDIO_ID": spec.studio_id, "STUDIOS_SESSION_SECRET": spec.secret,
               "STUDIOS_BASE_PATH": spec.base_path, "STUDIOS_BACKEND_DIR": str(self.sessions.state_dir.resolve())}
        message = json.dumps({"secret": pool_secret, "cwd": str(spec.workspace_dir), "env": env, "argv": argv})
        group = self.records.group(member.session_id)
        if group is not None:  # the studio's share of cpu from its first instruction on (it warmed as background)
            with contextlib.suppress(OSError):
                group.weigh(spec.cpu)
        fd = self._writer(member)
        try:
            os.set_blocking(fd, True)
            os.write(fd, message.encode())  # one write below the pipe's capacity: the reader gets it whole
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise
            raise NotWaiting(f"pooled process {member.session_id} went away while being bound") from e
        finally:
            os.close(fd)
        handle = Handle(spec.session_id, "local", member.ident, "127.0.0.1", port, member.started_at,
                        f"{member.limits}; warm pool" if member.limits else "warm pool")
        self.sessions.records.write(handle, spec, group)
        # From here on the process is the studio's: nothing may fail. The output file moves to the run's (the
        # process keeps writing to the same file); without it the run's log starts empty, nothing worse.
        with contextlib.suppress(OSError):
            target = self.sessions.log_path(spec.session_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.log_path(member.session_id).replace(target)
        self.forget(member.session_id)
        return handle

    def _writer(self, member: Handle) -> int:
        """The FIFO's write end. A live process reopens its end right after a probe's empty read, so a few
        misses in a row (ENXIO) are that instant, not a gone reader."""
        for _ in range(40):
            try:
                return os.open(self.fifo(member.session_id), os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO or not self.alive(member):
                    raise NotWaiting(f"pooled process {member.session_id} is not waiting: {e}") from e
            time.sleep(0.005)
        raise NotWaiting(f"pooled process {member.session_id} is not waiting on its FIFO")

    def alive(self, handle: Handle) -> bool:
        return os_processes.alive(handle)
