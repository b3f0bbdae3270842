"""A tool's output file followed into log lines.

The tool writes to a file, never to a pipe of ours, so its output never waits on us (nor on the bus): the file is
always drained by the kernel. Each line's ``seq`` is its byte offset in the file, so a reader that starts again
from a saved offset (a restarted lifecycle) numbers every line the same, and repeats are dropped downstream.
"""

from __future__ import annotations

from pathlib import Path

from libs.logs.runlog import RunLog

CHUNK = 1 << 20
#: A tool's stderr lines are numbered from here (plus their offset in the stderr file): both files' lines are
#: ``source: user`` of one run, and a line's cursor (time, source, seq) must stay unique across the two.
STDERR_SEQ = 1 << 48


def stderr_path(output: Path) -> Path:
    """Where a run's stderr goes beside its stdout file (``<run>.log`` -> ``<run>.err``)."""
    return output.with_suffix(".err")


class FileTail:
    def __init__(self, path: Path, log: RunLog, offset: int = 0, stream: str = "stdout") -> None:
        self.path, self.log, self.stream = path, log, stream
        self.seq_base = STDERR_SEQ if stream == "stderr" else 0
        self.offset = offset  # everything before it is sent (as lines) or held in ``_pending``
        self._pending = b""
        self._pending_at = offset

    @property
    def sent_to(self) -> int:
        """Where a reader starting again must begin: the start of the line not yet sent."""
        return self._pending_at

    def poll(self) -> int:
        """Send the complete lines written since the last poll; returns how many bytes were read."""
        read = 0
        try:
            with self.path.open("rb") as f:
                while True:
                    f.seek(self.offset)
                    data = f.read(CHUNK)
                    if not data:
                        return read
                    read += len(data)
                    self.offset += len(data)
                    self._lines(self._pending + data)
        except FileNotFoundError:
            return read

    def _lines(self, buf: bytes) -> None:
        start = 0
        while (nl := buf.find(b"\n", start)) >= 0:
            end = nl - 1 if nl > start and buf[nl - 1] == 0x0D else nl  # CRLF: the CR is not the message's
            self.log.write(buf[start:end], self.stream, seq=self.seq_base + self._pending_at + start)
            start = nl + 1
        self._pending_at += start
        self._pending = buf[start:]

    def finish(self, message: str = "", final: bool = True) -> None:
        """The rest of the file (a last line without its newline too), then (``final``) the run's final line."""
        self.poll()
        if self._pending:
            self.log.write(self._pending, self.stream, seq=self.seq_base + self._pending_at)
            self._pending_at += len(self._pending)
            self._pending = b""
        if final:
            self.log.close(final=True, message=message)
