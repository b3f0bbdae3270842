"""Graceful shutdown: run a coroutine until SIGTERM/SIGINT asks it to stop.

The first signal sets the stop event: the service stops taking work, drains and returns. A second signal cancels
the main task (its ``finally`` blocks still run, so a supervisor can still kill its children). A third exits the
process on the spot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("studios.lifecycle")

Main = Callable[[asyncio.Event], Awaitable[None]]

#: Exit code after a forced stop (the shell's convention for "killed by SIGINT").
FORCED_EXIT = 130


async def serve_until_signalled(main: Main,
                                signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> int:
    """Await ``main(stop)`` with signal handlers installed; 0 when it returned, ``FORCED_EXIT`` when forced."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.ensure_future(main(stop))
    received = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info("received %s: stopping (send it again to force)", sig.name)
            stop.set()
        elif received == 2:
            log.warning("received %s again: forcing the stop", sig.name)
            task.cancel()
        else:
            os._exit(FORCED_EXIT)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await task
        return 0
    except asyncio.CancelledError:
        if received < 2:
            raise
        return FORCED_EXIT
    finally:
        for sig in signals:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


def run_until_signalled(main: Main) -> int:
    """``asyncio.run`` a service's main coroutine with graceful SIGTERM/SIGINT handling; returns an exit code."""
    return asyncio.run(serve_until_signalled(main))
