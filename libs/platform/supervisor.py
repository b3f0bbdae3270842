"""Run each service as a child process, restart it when it dies, stop them all without leaving a process behind.

Every child runs in its own session (so its own process group): a Ctrl-C at the terminal reaches only the
supervisor. Stopping the supervisor is a whole-system shutdown, tier by tier (``ServiceSpec.stop_tier``: the gateway
first, so what it has in flight still finds the services behind it): it sends each child's group the service's
``shutdown_signal`` (SIGTERM unless the spec says otherwise), waits the service's grace period, and sends SIGKILL
to whatever of the group is left. Processes a service moved into sessions of their own (the lifecycle service's
tools, so they survive a lifecycle restart or crash) are that service's business: it stops them only on its
shutdown signal (``SYSTEM_SHUTDOWN``), never on SIGTERM, which is why lifecycle's grace period is long.

A child that exits while the supervisor is not stopping is restarted after a delay that doubles from
``Backoff.initial`` up to ``Backoff.cap``; a run that lasted ``Backoff.reset_after`` seconds resets the delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from libs.platform.services import SYSTEM_SHUTDOWN_ENV, ServiceSpec

log = logging.getLogger("studios.supervisor")


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    #: a run at least this long counts as healthy: the next restart waits ``initial`` again
    reset_after: float = 60.0

    def after(self, delay: float) -> float:
        return min(delay * self.factor, self.cap)


@dataclass
class ServiceState:
    spec: ServiceSpec
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    last_exit: int | None = None
    #: monotonic start time of every run, for status
    starts: list[float] = field(default_factory=list)
    #: the delay chosen before each restart, in order (what the backoff decided, not what a clock measured)
    delays: list[float] = field(default_factory=list)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (children are session leaders, so pgid == pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    def __init__(self, specs: Iterable[ServiceSpec], env: Mapping[str, str] | None = None, *,
                 backoff: Backoff = Backoff(), stdout: IO[Any] | int | None = None,
                 stderr: IO[Any] | int | None = None) -> None:
        self.states = {s.name: ServiceState(s) for s in specs}
        self.env = dict(os.environ if env is None else env)
        self.backoff = backoff
        self._stdout, self._stderr = stdout, stderr

    async def run(self, stop: asyncio.Event) -> None:
        """Start every service, keep them up until ``stop`` is set, then stop them all (SIGKILL if cancelled)."""
        tasks = [asyncio.create_task(self._supervise(st, stop), name=f"supervise-{st.spec.name}")
                 for st in self.states.values()]
        forced = False
        try:
            await stop.wait()
        except asyncio.CancelledError:
            forced = True
            raise
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for tier in self._stop_tiers(forced):
                await asyncio.gather(*(self._stop(st, forced) for st in tier))

    def _stop_tiers(self, forced: bool) -> list[list[ServiceState]]:
        """Who stops together, in order: by ``stop_tier`` (the gateway first); everything at once when forced."""
        states = list(self.states.values())
        if forced:
            return [states]
        return [[st for st in states if st.spec.stop_tier == tier]
                for tier in sorted({st.spec.stop_tier for st in states})]

    def pids(self) -> dict[str, int]:
        return {n: st.proc.pid for n, st in self.states.items() if st.proc and st.proc.returncode is None}

    async def _spawn(self, st: ServiceState, *, shutting_down: bool = False) -> asyncio.subprocess.Process:
        env = {**self.env, "STUDIOS_SERVICE": st.spec.name, **dict(st.spec.env)}
        if shutting_down:
            env[SYSTEM_SHUTDOWN_ENV] = "1"
        proc = await asyncio.create_subprocess_exec(
            *st.spec.command(), env=env, stdin=asyncio.subprocess.DEVNULL, stdout=self._stdout,
            stderr=self._stderr, start_new_session=True)
        st.proc = proc
        st.starts.append(time.monotonic())
        log.info("started service %s pid=%s", st.spec.name, proc.pid)
        return proc

    async def _supervise(self, st: ServiceState, stop: asyncio.Event) -> None:
        delay = self.backoff.initial
        while not stop.is_set():
            proc = await self._spawn(st)
            code = await proc.wait()
            _signal_group(proc.pid, signal.SIGKILL)  # whatever it left in its group dies with it
            st.last_exit = code
            if stop.is_set():
                return
            uptime = time.monotonic() - st.starts[-1]
            if uptime >= self.backoff.reset_after:
                delay = self.backoff.initial
            st.restarts += 1
            st.delays.append(delay)
            log.warning("service %s exited with code %s after %.1fs; restart #%d in %.1fs",
                        st.spec.name, code, uptime, st.restarts, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = self.backoff.after(delay)

    async def _stop(self, st: ServiceState, forced: bool) -> None:
        proc = st.proc
        if st.spec.owns_lasting_work and not forced and (proc is None or proc.returncode is not None):
            # Down between two restarts: what it owns (sessions) would be left running. Start it once, to stop them.
            log.info("starting service %s once, to shut down what it owns", st.spec.name)
            proc = await self._spawn(st, shutting_down=True)
            try:
                await asyncio.wait_for(proc.wait(), st.spec.grace_seconds)
            except TimeoutError:
                log.warning("service %s did not shut down within %.0fs: killing it", st.spec.name,
                            st.spec.grace_seconds)
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        if proc is None:
            return
        if proc.returncode is None:
            grace = st.spec.grace_seconds
            _signal_group(proc.pid, signal.SIGKILL if forced else st.spec.shutdown_signal)
            try:
                await asyncio.wait_for(proc.wait(), None if forced else grace)
            except TimeoutError:
                log.warning("service %s did not stop within %.0fs: killing it", st.spec.name, grace)
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            log.info("stopped service %s (exit code %s)", st.spec.name, proc.returncode)
        _signal_group(proc.pid, signal.SIGKILL)
        st.last_exit = proc.returncode
