"""RoutingBackend: one ``ComputeBackend`` in front of several, so the runner and the reconciler stay unaware of them.

A launch goes to the backend its spec names (``LaunchSpec.backend``, chosen by provisioning from the compute
environment's platform); everything else goes to the backend that made the handle (``Handle.backend``). Listing
asks every backend: a backend that cannot answer (its engine unreachable) fails the whole pass rather than let
the reconciler take its sessions for gone and record them stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from services.lifecycle.backends.base import (
    ComputeBackend,
    Handle,
    KeepsWorkspaceObjects,
    LaunchError,
    LaunchSpec,
    Status,
    Usage,
)


class RoutingBackend:
    name = "routing"

    def __init__(self, backends: Mapping[str, ComputeBackend], log_dir: Path) -> None:
        self.backends = dict(backends)
        self.log_dir = log_dir
        self._owner: dict[str, str] = {}  # session id -> the key of the backend that runs it

    def log_path(self, session_id: str) -> Path:
        """Every backend here writes its sessions' output to ``<state dir>/logs/<session>.log``."""
        return self.log_dir / f"{session_id}.log"

    def _by(self, name: str) -> ComputeBackend:
        try:
            return self.backends[name]
        except KeyError:
            raise LaunchError(f"this lifecycle has no {name!r} backend (it runs {sorted(self.backends)})") from None

    def _of(self, handle: Handle) -> ComputeBackend:
        """The backend that launched or listed the session; else the one the handle names (``Handle.backend`` is
        the backend's ``name``), else the first: a gone session's calls must still answer, not raise."""
        if handle.session_id in self._owner:
            return self.backends[self._owner[handle.session_id]]
        by_name = [b for b in self.backends.values() if b.name == handle.backend]
        return self.backends.get(handle.backend) or (by_name or list(self.backends.values()))[0]

    async def launch(self, spec: LaunchSpec) -> Handle:
        handle = await self._by(spec.backend).launch(spec)
        self._owner[handle.session_id] = spec.backend
        return handle

    async def ready(self, handle: Handle, timeout: float) -> bool:
        return await self._of(handle).ready(handle, timeout)

    async def inspect(self, handle: Handle) -> Status:
        return await self._of(handle).inspect(handle)

    async def wait(self, handle: Handle) -> Status:
        return await self._of(handle).wait(handle)

    async def usage(self, handle: Handle) -> Usage | None:
        return await self._of(handle).usage(handle)

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        return await self._of(handle).stop(handle, grace)

    async def list_sessions(self) -> list[Handle]:
        found = []
        for key, backend in self.backends.items():
            for handle in await backend.list_sessions():
                self._owner[handle.session_id] = key
                found.append(handle)
        return found

    def output(self, handle: Handle) -> AsyncIterator[bytes]:
        return self._of(handle).output(handle)

    async def forget_workspace(self, studio_id: str, workspace_dir: Path) -> bool:
        """Every backend that keeps something for a workspace lets it go; True once none holds anything."""
        gone = True
        for backend in self.backends.values():
            if isinstance(backend, KeepsWorkspaceObjects):
                gone = await backend.forget_workspace(studio_id, workspace_dir) and gone
        return gone

    async def close(self) -> None:
        """Let go of engine connections (the docker backend's); the sessions keep running."""
        for backend in self.backends.values():
            close = getattr(backend, "close", None)
            if close is not None:
                await close()
