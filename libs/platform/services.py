"""The services `studios up` runs, each as ``python -m <module>`` in its own process."""

from __future__ import annotations

import importlib.util
import logging
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from libs.platform.signals import SYSTEM_SHUTDOWN

#: Set (to ``1``) for a service started only to take part in a whole-system shutdown: it stops what it owns and exits.
SYSTEM_SHUTDOWN_ENV = "STUDIOS_SYSTEM_SHUTDOWN"

log = logging.getLogger("studios.services")


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service. ``argv`` overrides ``python -m module`` (tests use it for dummy services)."""

    name: str
    module: str | None = None
    argv: tuple[str, ...] | None = None
    #: how long the service may take to drain after its stop signal before it is killed
    grace_seconds: float = 10.0
    #: what the supervisor sends on a whole-system shutdown; a restart of this one service is always SIGTERM
    shutdown_signal: signal.Signals = signal.SIGTERM
    #: the service owns work that outlives it (lifecycle's tools): when the system shuts down while the service is
    #: not running (between two restarts), the supervisor starts it once with ``SYSTEM_SHUTDOWN_ENV`` set, so it
    #: can stop that work and exit
    owns_lasting_work: bool = False
    #: variables this process gets on top of the supervisor's environment (a replica's port and instance id)
    env: tuple[tuple[str, str], ...] = ()
    #: a whole-system shutdown stops services tier by tier, lowest first: the gateway (tier 0) stops taking requests
    #: while the services behind it still answer what it has in flight (a connection's close, a last command)
    stop_tier: int = 1

    def command(self) -> list[str]:
        if self.argv:
            return list(self.argv)
        if not self.module:
            raise ValueError(f"service {self.name} has neither a module nor argv")
        return [sys.executable, "-m", self.module]


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("gateway", "services.gateway", stop_tier=0),
    # SIGTERM restarts lifecycle and leaves the tools it launched running (they are in sessions of their own; the
    # next lifecycle adopts them). Only a whole-system shutdown (SYSTEM_SHUTDOWN) makes it stop them, and the tools
    # get 30 s between SIGTERM and SIGKILL (DESIGN §5), so lifecycle gets more than that.
    ServiceSpec("lifecycle", "services.lifecycle", grace_seconds=40.0, shutdown_signal=SYSTEM_SHUTDOWN,
                owns_lasting_work=True),
    ServiceSpec("checkpoints", "services.checkpoints", grace_seconds=20.0),
    ServiceSpec("builder", "services.builder"),
    ServiceSpec("logs", "services.logs"),
)


def has_entry_point(module: str) -> bool:
    """True when ``module`` is a package with a ``__main__.py``, found without importing the package itself."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(loc) / "__main__.py").is_file() for loc in spec.submodule_search_locations)


def runnable(specs: Iterable[ServiceSpec] = SERVICES) -> tuple[list[ServiceSpec], list[ServiceSpec]]:
    """Split ``specs`` into those that can start now and those whose package has no ``__main__`` yet."""
    ready: list[ServiceSpec] = []
    skipped: list[ServiceSpec] = []
    for spec in specs:
        ok = spec.argv is not None or (spec.module is not None and has_entry_point(spec.module))
        (ready if ok else skipped).append(spec)
        if not ok:
            log.warning("skipping service %s: %s has no __main__.py yet", spec.name, spec.module)
    return ready, skipped


def select(names: Sequence[str] | None, specs: Iterable[ServiceSpec] = SERVICES) -> list[ServiceSpec]:
    """The specs named in ``names`` (all when empty); an unknown name is an error."""
    specs = list(specs)
    if not names:
        return specs
    known = {s.name: s for s in specs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[n] for n in names]
