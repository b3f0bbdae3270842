"""A run's output file, followed while the run lasts: what every backend's ``output()`` hands out.

Each backend gets its tool's output into a file of its own making (a local process writes it, the container and pod
backends copy the engine's log stream into it); following that file is the same for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

CHUNK = 65536
POLL_SECONDS = 0.2


async def follow_file(path: Path, running: Callable[[], bool]) -> AsyncIterator[bytes]:
    """The file's bytes as they come, until ``running()`` is false and everything written is read.

    ``running`` is asked before each read, so bytes written just before the end are still read after it.
    """
    with await asyncio.to_thread(path.open, "rb") as log_file:
        while True:
            still = running()
            chunk = await asyncio.to_thread(log_file.read, CHUNK)
            if chunk:
                yield chunk
            elif not still:
                return
            else:
                await asyncio.sleep(POLL_SECONDS)
