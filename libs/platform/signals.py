"""Graceful shutdown: run a coroutine until a signal asks it to stop.

The first signal sets the stop event: the service stops taking work, drains and returns. A second signal cancels
the main task (its ``finally`` blocks still run, so a supervisor can still kill its children). A third exits the
process on the spot.

Two kinds of stop, because a service restart must do no harm to users:

- SIGTERM / SIGINT: *this process* is going away (a deploy, a container restart, the supervisor restarting it).
  Another process of the same service takes over; long-lived work it started (the lifecycle service's tool
  sessions) keeps running and is adopted.
- ``SYSTEM_SHUTDOWN`` (SIGUSR1): *the whole system* is going down (``studios up`` stopped). The stop event says so
  (``Stop.system_shutdown``), and a service that owns long-lived work ends it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence

from libs.platform.heap import freeze_startup_heap

log = logging.getLogger("studios.signals")

#: The signal the supervisor sends a service on a whole-system shutdown, when the service asks for it.
SYSTEM_SHUTDOWN = signal.SIGUSR1

#: Exit code after a forced stop (the shell's convention for "killed by SIGINT").
FORCED_EXIT = 130


class Stop(asyncio.Event):
    """The stop event, and whether what was asked is a whole-system shutdown rather than this process's stop."""

    def __init__(self) -> None:
        super().__init__()
        self.system_shutdown = False

    def request(self, *, system_shutdown: bool = False) -> None:
        self.system_shutdown = self.system_shutdown or system_shutdown
        self.set()


def is_system_shutdown(stop: asyncio.Event) -> bool:
    """True when ``stop`` was set for a whole-system shutdown (a plain ``asyncio.Event`` never is)."""
    return isinstance(stop, Stop) and stop.system_shutdown


Main = Callable[[Stop], Awaitable[None]]

#: Signals that arrived before the event loop's handlers were installed (see ``hold_signals``).
_held: list[signal.Signals] = []


def hold_signals(signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT, SYSTEM_SHUTDOWN)) -> None:
    """Call first thing in a ``__main__``: a stop signal that comes while the service is still importing and
    connecting is kept and acted on once it serves, instead of killing it (SIGUSR1's default action) before it
    could stop what it owns."""
    for sig in signals:
        signal.signal(sig, lambda signum, _frame: _held.append(signal.Signals(signum)))


async def serve_until_signalled(main: Main,
                                signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
                                shutdown_signals: Sequence[signal.Signals] = (SYSTEM_SHUTDOWN,)) -> int:
    """Await ``main(stop)`` with signal handlers installed; 0 when it returned, ``FORCED_EXIT`` when forced."""
    loop = asyncio.get_running_loop()
    stop = Stop()
    task = asyncio.ensure_future(main(stop))
    received = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal received
        received += 1
        if received == 1:
            kind = "system shutdown" if sig in shutdown_signals else "stop"
            log.info("received %s (%s): stopping (send it again to force)", sig.name, kind)
            stop.request(system_shutdown=sig in shutdown_signals)
        elif received == 2:
            log.warning("received %s again: forcing the stop", sig.name)
            task.cancel()
        else:
            os._exit(FORCED_EXIT)

    installed = (*signals, *shutdown_signals)
    for sig in installed:
        loop.add_signal_handler(sig, on_signal, sig)
    while _held:  # received before the handlers above existed
        loop.call_soon(on_signal, _held.pop(0))
    try:
        await task
        return 0
    except asyncio.CancelledError:
        if received < 2:
            raise
        return FORCED_EXIT
    finally:
        for sig in installed:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


def run_until_signalled(main: Main, *, shutdown_signals: Sequence[signal.Signals] = (SYSTEM_SHUTDOWN,)) -> int:
    """``asyncio.run`` a service's main coroutine with graceful signal handling; returns an exit code. The heap
    the process has by now (its imports, settings, logging) is frozen first: see ``libs.platform.heap``."""
    freeze_startup_heap()
    return asyncio.run(serve_until_signalled(main, shutdown_signals=shutdown_signals))
