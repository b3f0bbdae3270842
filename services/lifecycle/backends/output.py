"""A run's output file, followed while the run lasts: what every backend's ``output()`` hands out.

Each backend gets its tool's output into a file of its own making (a local process writes it, the container and pod
backends copy the engine's log stream into it); following that file is the same for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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


#: copies an engine's log of one run into the file it is given, returning when the engine ends the stream
Copy = Callable[[Path], Awaitable[None]]


class EngineLogs:
    """The container and pod backends' output: each session's engine log copied into its file by one task while the
    run lasts, and ``follow`` reading that file. Local processes write their file themselves and need none of it."""

    def __init__(self, logs_dir: Path) -> None:
        self.dir = logs_dir
        self._copies: dict[str, asyncio.Task[None]] = {}

    def path(self, session_id: str) -> Path:
        return self.dir / f"{session_id}.log"

    def start(self, session_id: str, copy: Copy) -> asyncio.Task[None]:
        task = asyncio.ensure_future(copy(self.path(session_id)))
        self._copies[session_id] = task
        return task

    def ensure(self, session_id: str, copy: Copy) -> None:
        """A copy of a run found running (adopted), unless one is under way."""
        task = self._copies.get(session_id)
        if task is None or task.done():
            self.start(session_id, copy)

    async def finish(self, session_id: str, within: float = 10.0) -> None:
        """After a stop: the engine ends the log stream with the run; let the rest land in the file first."""
        task = self._copies.pop(session_id, None)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, within)

    async def follow(self, session_id: str, copy: Copy, present: Callable[[], Awaitable[bool]]
                     ) -> AsyncIterator[bytes]:
        """The run's output: its file, followed while a copy runs (one is started when the engine still has the
        run — ``present`` — and no copy is known, as after a lifecycle restart)."""
        path = self.path(session_id)
        task = self._copies.get(session_id)
        if task is None and await present():
            task = self.start(session_id, copy)
        if not path.exists() and task is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        async for chunk in follow_file(path, lambda: task is not None and not task.done()):
            yield chunk

    def close(self) -> None:
        for task in self._copies.values():
            task.cancel()


async def append_resumed(path: Path, stream: AsyncIterator[bytes]) -> None:
    """``stream`` (an engine's log, read from its start) appended to ``path``, the bytes the file already holds
    skipped: a copy begun again (a restarted lifecycle, a follow the server cut) leaves the file equal to the
    engine's log, with nothing twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    skip = path.stat().st_size if path.exists() else 0  # noqa: ASYNC240 - one stat as the copy begins
    with path.open("ab") as out:
        async for data in stream:
            if skip:
                cut = min(skip, len(data))
                data, skip = data[cut:], skip - cut
            if data:
                out.write(data)
                out.flush()


def held(path: Path) -> int:
    """The bytes a log copy's file holds (0 before its first)."""
    return path.stat().st_size if path.exists() else 0


class FollowAgain:
    """A log copy's wait before it follows the log again, after a follow ended or broke while the tool ran: 0.2 s,
    doubled each time up to 5 s, so a copy neither spins on an engine that is away nor lags long behind one that
    came back; and one warning per copy for broken follows, not one per try."""

    FIRST, MOST = 0.2, 5.0

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.pause, self.warned = self.FIRST, False
        self._log, self._what = log, what

    def broke(self, why: str) -> None:
        if not self.warned:
            self._log.warning("%s: its log follow broke (%s); following it again", self._what, why)
            self.warned = True

    async def wait(self) -> None:
        await asyncio.sleep(self.pause)
        self.pause = min(self.pause * 2, self.MOST)
