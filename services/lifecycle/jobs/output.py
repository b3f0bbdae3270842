"""A job's output file followed into log lines (kind ``job``, run = attempt) for the logs service.

Each line's ``seq`` is its byte offset in the file, so a restarted lifecycle that reads the file again from the
start numbers every line the same, and the repeats are dropped (JetStream's duplicate window, the logs service's
key). The last line of a run carries ``final``: a follower ends there.
"""

from __future__ import annotations

from pathlib import Path

from libs.logs.runlog import LineSink, RunLog

CHUNK = 1 << 20


class OutputTail:
    def __init__(self, path: Path, sink: LineSink | None, job_id: str, attempt: int) -> None:
        self.path, self.offset, self._pending = path, 0, b""
        self._pending_at = 0
        self.log = RunLog(sink, "job", job_id, attempt, "user", first_seq=0) if sink is not None else None

    def poll(self) -> None:
        """Send the complete lines written since the last poll."""
        if self.log is None:
            return
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(CHUNK)
        except OSError:
            return
        while data:
            self.offset += len(data)
            buf = self._pending + data
            start = 0
            while (nl := buf.find(b"\n", start)) >= 0:
                self.log.write(buf[start:nl + 1], seq=self._pending_at + start)
                start = nl + 1
            self._pending_at += start
            self._pending = buf[start:]
            if len(data) < CHUNK:
                break
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(CHUNK)

    def close(self, message: str) -> None:
        """The rest of the output, then the run's final line (``message``: how it ended)."""
        if self.log is None:
            return
        self.poll()
        if self._pending:
            self.log.write(self._pending + b"\n", seq=self._pending_at)
            self._pending = b""
        self.log.close(final=True, message=message)
