"""A bounded local file that log lines wait in while the bus is unreachable (or the memory queue is full).

Records are appended as ``<subject> <msg id> <payload>\\n`` lines (a payload is JSON, so it holds no raw newline);
``read`` returns the oldest unsent ones and ``advance`` marks them sent; once everything is sent the file is emptied.
A process that starts with a non-empty spool (it died while spooling) sends it all again: the lines' keys make a
repeat harmless. Past ``max_bytes`` nothing more is written: the caller counts what it drops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from libs.logs.lines import LogLine


class Spool:
    def __init__(self, path: Path, max_bytes: int = 256 * 1024**2) -> None:
        self.path, self.max_bytes = path, max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a+b")
        self._size = _drop_torn_tail(self._file)
        self._read_at = 0

    @property
    def pending(self) -> bool:
        return self._read_at < self._size

    @property
    def size(self) -> int:
        return self._size

    def append(self, line: LogLine, prefix: str) -> bool:
        """False (and nothing written) when the spool is full."""
        record = b"%s %s %s\n" % (line.subject(prefix).encode(), line.msg_id().encode(), line.payload())
        if self._size + len(record) > self.max_bytes:
            return False
        self._file.seek(0, os.SEEK_END)
        self._file.write(record)
        self._size += len(record)
        return True

    def read(self, max_records: int) -> tuple[list[tuple[str, str, bytes]], int]:
        """Up to ``max_records`` unsent records as ``(subject, msg id, payload)`` and the offset after them."""
        self._file.flush()
        self._file.seek(self._read_at)
        out: list[tuple[str, str, bytes]] = []
        end = self._read_at
        while len(out) < max_records and end < self._size:
            raw = self._file.readline()
            end += len(raw)
            subject, msg_id, payload = raw.rstrip(b"\n").split(b" ", 2)
            out.append((subject.decode(), msg_id.decode(), payload))
        return out, end

    def advance(self, offset: int) -> None:
        self._read_at = offset
        if self._read_at >= self._size:
            self._file.truncate(0)
            self._size = self._read_at = 0

    def close(self) -> None:
        self._file.close()


def _drop_torn_tail(f: BinaryIO) -> int:
    """Cut a last record the previous process died writing (no newline yet); returns the size left."""
    size = f.seek(0, os.SEEK_END)
    cut = size
    while cut > 0:
        start = max(0, cut - 65536)
        f.seek(start)
        chunk = f.read(cut - start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            cut = start + at + 1
            break
        cut = start
    if cut != size:
        f.truncate(cut)
    return cut
