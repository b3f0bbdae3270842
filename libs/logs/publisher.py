"""The process-wide log publisher: ``offer`` never blocks, a background task publishes to JetStream ``LOGS``.

Lines wait in a bounded memory queue and go out in pipelined batches (nats-py ``publish_async``, every ack
awaited), each subject's lines of a batch packed a few hundred to a message (``lines.packs``). No ``Nats-Msg-Id``
header: a line sent twice (a retried batch) is dropped by its seq, which grows within its run, source and stream,
where it is stored (``services/logs/writer.py``) and where it is followed; the header cost the ingestor about a
third of its time parsing it. When a batch fails (the bus is unreachable, acks time out) it is retried with a
back-off and what arrives meanwhile beyond the memory bound goes to the ``Spool`` file; once anything is spooled,
every newer line is spooled too until the spool is sent, so one source's lines keep their order. Only when the
spool is full are lines dropped, counted per run; when the bus is back, one system line per run says how many.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import threading
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext

from libs.contracts.subjects import LOGS_PREFIX
from libs.logs.lines import LogLine, packs
from libs.logs.runlog import clock_seq, utc_now
from libs.logs.spool import Spool

log = logging.getLogger("studios.logs.publisher")
Record = tuple[str, str, bytes]  # subject, msg id, payload
RunKey = tuple[str, str, int]
#: Lines a send takes from the queue at most (packed by subject into messages, ``lines.packs``).
BATCH = 2_000


class LogPublisher:
    def __init__(self, js: JetStreamContext, spool_path: Path, *, prefix: str = LOGS_PREFIX,
                 spool_bytes: int = 256 * 1024**2, memory_lines: int = 20_000, batch: int = BATCH,
                 ack_timeout: float = 5.0, retry_max: float = 5.0) -> None:
        self.js, self.prefix = js, prefix
        self.spool = Spool(spool_path, spool_bytes)
        self.memory_lines, self.batch, self.ack_timeout, self.retry_max = memory_lines, batch, ack_timeout, retry_max
        self._queue: collections.deque[Record] = collections.deque()
        self._inbox: collections.deque[LogLine] = collections.deque()  # offered from other threads
        self._inbox_called = False
        self._dropped: dict[RunKey, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self.published = 0
        self.failures = 0

    # -- producer side: synchronous, never waits ----------------------------------------------------------

    def offer(self, line: LogLine) -> None:
        """Thread-safe: from another thread (a file follower reading in a worker) the line is handed to the loop,
        through an inbox the loop empties in one callback (a callback per line woke the loop per line)."""
        if self._loop is not None and threading.get_ident() != self._thread:
            self._inbox.append(line)  # deque.append is atomic
            if not self._inbox_called:
                self._inbox_called = True
                self._loop.call_soon_threadsafe(self._take_inbox)
        else:
            self._offer(line)

    def _take_inbox(self) -> None:  # on the loop
        # Cleared before the inbox is read: a line appended after this point either is read below or finds the
        # flag down and calls again; none waits for a later line to be taken.
        self._inbox_called = False
        while self._inbox:
            self._offer(self._inbox.popleft())

    def _offer(self, line: LogLine) -> None:
        if not self.spool.pending and len(self._queue) < self.memory_lines:
            self._queue.append((line.subject(self.prefix), line.msg_id(), line.payload()))
        elif not self.spool.append(line, self.prefix):
            key = (line.kind, line.id, line.run)
            self._dropped[key] = self._dropped.get(key, 0) + 1
        self._wake.set()

    @property
    def dropped(self) -> int:
        return sum(self._dropped.values())

    @property
    def idle(self) -> bool:
        return not self._inbox and not self._queue and not self.spool.pending and not self._dropped

    # -- the sending task -----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
            self._task = asyncio.create_task(self._run(), name="log-publisher")

    async def flush(self, timeout: float = 30.0) -> bool:
        """Wait (bounded) until everything offered so far is published; False if it was not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle:
            if loop.time() >= deadline:
                return False
            self._wake.set()
            await asyncio.sleep(0.01)
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Publish what is waiting (bounded by ``timeout``; the spool keeps the rest for the next process)."""
        await self.flush(timeout)
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.spool.close()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            records, spooled_to = self._next_batch()
            if not records:
                if self._dropped:
                    self._report_drops()
                    continue
                self._wake.clear()
                await self._wake.wait()
                continue
            if await self._send(records):
                delay = 0.05
                if spooled_to is None:
                    for _ in records:
                        self._queue.popleft()
                else:
                    self.spool.advance(spooled_to)
                continue
            self.failures += 1
            await asyncio.sleep(delay)  # the bus is away: the records stay where they are, newer ones spool
            delay = min(delay * 2, self.retry_max)

    def _next_batch(self) -> tuple[list[Record], int | None]:
        """The oldest records first: the memory queue's (older than anything spooled), then the spool's."""
        if self._queue:
            return list(itertools.islice(self._queue, self.batch)), None
        if self.spool.pending:
            records, end = self.spool.read(self.batch)
            return records, end
        return [], None

    async def _send(self, records: list[Record]) -> bool:
        futures: list[asyncio.Future[Any]] = []
        try:
            for subject, payload, _ in packs([(subject, payload) for subject, _, payload in records]):
                # no wait_stall: a batch never exceeds nats-py's window of 4000, and a timed wait costs a task
                futures.append(await self.js.publish_async(subject, payload))
            await asyncio.wait_for(asyncio.gather(*futures), self.ack_timeout)
        except Exception as e:  # unreachable, stalled, refused: all mean "try again later"
            for f in futures:
                f.cancel()  # releases its slot in nats-py's pending window
            log.debug("log batch of %d not published: %r", len(records), e)
            return False
        self.published += len(records)
        return True

    def _report_drops(self) -> None:  # on the loop
        """Once lines flow again, one system line per run that lost some to a full spool."""
        drops, self._dropped = self._dropped, {}
        for (kind, ident, run), count in drops.items():
            self._offer(LogLine(kind, ident, run, "system", clock_seq(), "stderr",
                               f"[{count} log lines were dropped: the log spool was full while the bus was "
                               "unreachable]", utc_now()))
