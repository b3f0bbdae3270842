"""One run's lines from one source: numbered, split at 64 KiB, stamped, and held to the run's quota.

A run that passes its quota (default 100 MB of messages) is not cut off mid-run without a word: one truncation
marker line says so, the rest is counted, and ``close`` adds how many lines and bytes were not stored. The quota
replaces a hard cap (Coder's 1 MB surprised its users): a runaway tool costs at most the quota, a normal one
loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from libs.logs.lines import MAX_LINE_BYTES, LogLine, split_message

DEFAULT_QUOTA_BYTES = 100 * 1024**2


class LineSink(Protocol):
    """Where finished lines go (``LogPublisher``); ``offer`` never blocks."""

    def offer(self, line: LogLine) -> None: ...


def clock_seq() -> int:
    """A sequence for lines with no natural offset (system lines): microseconds, so a restarted producer
    continues above what the previous one sent."""
    return time.time_ns() // 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


class RunLog:
    """Lines of ``(kind, id, run, source)``. ``write`` takes one line, with or without its newline."""

    def __init__(self, sink: LineSink, kind: str, ident: str, run: int, source: str = "user", *,
                 quota_bytes: int = DEFAULT_QUOTA_BYTES, first_seq: int | None = None,
                 now: Callable[[], datetime] = utc_now, max_line: int = MAX_LINE_BYTES) -> None:
        self.sink, self.kind, self.id, self.run, self.source = sink, kind, ident, run, source
        self.quota_bytes, self._now, self._max_line = quota_bytes, now, max_line
        self._next = clock_seq() if first_seq is None else first_seq
        #: The last seq sent per stream: a tool's stdout and stderr are numbered apart (``tail.STDERR_SEQ``), and
        #: each must only grow, as the store and the follow drop a line at or below its stream's last.
        self._last: dict[str, int] = {}
        self._last_time: datetime | None = None
        self.bytes_written = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self.closed = False

    @classmethod
    def system(cls, sink: LineSink, kind: str, ident: str, run: int, **kw: object) -> RunLog:
        return cls(sink, kind, ident, run, "system", **kw)  # type: ignore[arg-type]

    @property
    def truncated(self) -> bool:
        return self.bytes_written > self.quota_bytes

    def write(self, data: bytes | str, stream: str = "stdout", seq: int | None = None) -> None:
        """``seq``: the line's own number (a tool's byte offset); None numbers it after the last one. One trailing
        newline (``\n`` or ``\r\n``) is the line's end, not its message, and is dropped."""
        raw = data.encode() if isinstance(data, str) else data
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if self.truncated:
            self.dropped_lines += 1
            self.dropped_bytes += len(raw)
            return
        self.bytes_written += len(raw)
        floor = self._last.get(stream, -1) + 1
        base = max(self._next, floor) if seq is None else max(seq, floor)
        for offset, text in split_message(raw, self._max_line):
            self._emit(text, stream, base + (offset if seq is not None else 0))
            if seq is None:
                base += 1
        if self.truncated:
            self._emit(f"[log truncated: this run passed its quota of {self.quota_bytes} bytes; further output is "
                       "counted, not stored]", "stderr")

    def close(self, final: bool = False, message: str = "") -> None:
        """Say what the quota cut (if it did). ``final``: this is the run's very last line (a follower ends
        there), with ``message`` when the quota cut nothing."""
        if self.closed:
            return
        self.closed = True
        if self.dropped_lines:
            self._emit(f"[log truncated: {self.dropped_lines} lines ({self.dropped_bytes} bytes) past the quota "
                       "were not stored]", "stderr", final=final)
        elif final:
            self._emit(message, "stdout", final=True)

    def _emit(self, text: str, stream: str, seq: int | None = None, final: bool = False) -> None:
        seq = max(self._next, self._last.get(stream, -1) + 1) if seq is None else seq
        self._next = seq + 1
        self._last[stream] = seq
        at = self._now()
        if self._last_time is not None and at < self._last_time:
            at = self._last_time  # a clock stepping back must not reorder one source's lines
        self._last_time = at
        self.sink.offer(LogLine(self.kind, self.id, self.run, self.source, seq, stream, text, at, final))
