"""A build's output: every line to the build's own log file (what ``GET /builds/{id}/logs`` reads through the
builder) and, when a log publisher is wired, to JetStream ``LOGS`` as kind ``build`` (run = the attempt), as it
happens. The file is JSON lines, one file per attempt, so a page is read by line offset."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol


class RunLine(Protocol):
    """One run's log (``libs.logs.RunLog``)."""

    def write(self, data: bytes | str, stream: str = "stdout", seq: int | None = None) -> None: ...

    def close(self, final: bool = False, message: str = "") -> None: ...


#: (build id, attempt) -> that attempt's run log on the bus, or None where no publisher is wired
RunLogFactory = Callable[[str, int], RunLine | None]


class BuildLogs:
    def __init__(self, root: Path, bus: RunLogFactory | None = None) -> None:
        self.root, self.bus = root, bus

    def path(self, build_id: str, attempt: int) -> Path:
        return self.root / build_id / f"{attempt}.jsonl"

    def open(self, build_id: str, attempt: int) -> BuildOutput:
        path = self.path(build_id, attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        return BuildOutput(path.open("a", encoding="utf-8"), self.bus(build_id, attempt) if self.bus else None)

    def attempts(self, build_id: str) -> list[int]:
        folder = self.root / build_id
        return sorted(int(p.stem) for p in folder.glob("*.jsonl") if p.stem.isdigit()) if folder.is_dir() else []

    def read(self, build_id: str, attempt: int | None, offset: int, limit: int) -> dict[str, Any]:
        """``{attempt, lines: [{stream, message, at}], next}``: ``next`` is the offset to ask for after these."""
        known = self.attempts(build_id)
        attempt = attempt if attempt is not None else (known[-1] if known else None)
        lines: list[dict[str, Any]] = []
        if attempt is not None and attempt in known:
            with self.path(build_id, attempt).open(encoding="utf-8") as f:
                for i, raw in enumerate(f):
                    if i >= offset + limit:
                        break
                    if i >= offset and raw.endswith("\n"):  # a line still being written is read next time
                        lines.append(json.loads(raw))
        return {"attempt": attempt, "lines": lines, "next": offset + len(lines)}


class BuildOutput:
    """The ``OutputSink`` of one attempt. Each line is flushed at once: a follower sees it as it happens."""

    def __init__(self, file: IO[str], bus: RunLine | None) -> None:
        self.file, self.bus = file, bus

    def line(self, text: str, stream: str = "stdout") -> None:
        at = datetime.now(UTC).isoformat()
        self.file.write(json.dumps({"stream": stream, "message": text, "at": at}, ensure_ascii=False) + "\n")
        self.file.flush()
        if self.bus is not None:
            self.bus.write(text, stream)

    def close(self, outcome: str) -> None:
        self.line(outcome, "stdout")
        self.file.close()
        if self.bus is not None:
            self.bus.close(final=True, message=outcome)
