"""Work in a running tool that nobody is connected to, so an idle timeout never stops real work (docs/activity.md).

Three signals, each cheap enough for every reconcile pass of a session that has an idle timeout:
- the session's CPU use between two passes (the backend's cgroup accounting, else its processes' ``/proc``
  figures: ``ComputeBackend.usage``), so a silent CPU-bound computation counts, whatever the tool;
- JupyterLab: a kernel whose ``execution_state`` is ``busy``, or a terminal used since the last look, read from
  its REST API with the session's secret (the Jupyter token: ``backends/tools.py``);
- any tool that sets ``STUDIOS_ACTIVITY_URL`` in its environment: a path on the tool answering
  ``{"busy": bool, "lastActivity": "<ISO 8601>"}`` (either key), asked with ``X-Studios-Secret``.
A tool that does not answer counts as not busy; only the signals that did are named.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from libs.contracts.studio_state import State
from services.lifecycle.backends.base import ComputeBackend, Handle
from services.lifecycle.backends.tools import SECRET_HEADER

log = logging.getLogger(__name__)

ACTIVITY_URL = "STUDIOS_ACTIVITY_URL"
JUPYTER_TOOLS = frozenset({"jupyter", "jupyterlab"})


@dataclass
class ActivityProbe:
    backend: ComputeBackend
    secret_of: Callable[[State], str]
    #: CPU use above this (millicores: 1000 = one core) over the interval between two looks is work
    cpu_busy_millicores: float = 200.0
    timeout: float = 3.0
    clock: Callable[[], float] = time.monotonic
    _cpu: dict[str, tuple[float, float]] = field(default_factory=dict, init=False)  # run -> (at, cpu seconds)
    _looked: dict[str, datetime] = field(default_factory=dict, init=False)  # run -> when its tool was last asked

    async def work(self, state: State, handle: Handle, now: datetime) -> tuple[str, ...]:
        """What the session is busy with now (empty: nothing seen)."""
        found: list[str] = []
        millicores = await self._cpu_rate(state.run_key, handle)
        if millicores is not None and millicores >= self.cpu_busy_millicores:
            found.append("cpu")
        since = self._looked.get(state.run_key)
        self._looked[state.run_key] = now
        tool = state.template.tool if state.template else ""
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=self.timeout) as http:
                if tool in JUPYTER_TOOLS:
                    found += await self._jupyter(http, state, handle, since)
                path = state.configuration.environment.get(ACTIVITY_URL)
                if path:
                    found += await self._endpoint(http, state, handle, path, since)
        except (httpx.HTTPError, ValueError) as e:  # a tool that does not answer is not busy
            log.debug("activity of %s: %r", state.run_key, e)
        return tuple(found)

    def forget(self, run_key: str) -> None:
        self._cpu.pop(run_key, None)
        self._looked.pop(run_key, None)

    async def _cpu_rate(self, run_key: str, handle: Handle) -> float | None:
        usage = await self.backend.usage(handle)
        seconds = getattr(usage, "cpu_seconds", None)
        if seconds is None:
            return None
        at, before = self.clock(), self._cpu.get(run_key)
        self._cpu[run_key] = (at, seconds)
        if before is None or at <= before[0]:
            return None
        return (seconds - before[1]) / (at - before[0]) * 1000

    async def _jupyter(self, http: httpx.AsyncClient, state: State, handle: Handle,
                       since: datetime | None) -> list[str]:
        base = f"{handle.url}/connect/{state.session_id}/api"  # the base_url provisioning gives JupyterLab
        headers = {"Authorization": f"token {self.secret_of(state)}"}
        found = []
        kernels = (await http.get(f"{base}/kernels", headers=headers)).raise_for_status().json()
        if any(k.get("execution_state") == "busy" for k in kernels):
            found.append("kernel busy")
        terminals = (await http.get(f"{base}/terminals", headers=headers)).raise_for_status().json()
        if any(_after(t.get("last_activity"), since) for t in terminals):
            found.append("terminal")
        return found

    async def _endpoint(self, http: httpx.AsyncClient, state: State, handle: Handle, path: str,
                        since: datetime | None) -> list[str]:
        url = f"{handle.url}/{path.lstrip('/')}"  # on the tool's own address only: never another host
        answer: Any = (await http.get(url, headers={SECRET_HEADER: self.secret_of(state)})) \
            .raise_for_status().json()
        if not isinstance(answer, dict):
            return []
        if answer.get("busy") is True or _after(answer.get("lastActivity"), since):
            return ["tool busy"]
        return []


def _after(value: object, since: datetime | None) -> bool:
    """An ISO 8601 time later than ``since`` (with no earlier look, any time counts)."""
    if not isinstance(value, str):
        return False
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if at.tzinfo is None or since is None:
        return since is None
    return at > since
