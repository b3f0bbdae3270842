"""The logs service's query, asked over NATS request/reply (``studios.cmd.logs.query_logs``).

The reply's ``result`` is ``{"run": n | null, "lines": [{id, message, stream, source, createdAt, final?}],
"next": cursor | null, "floor": n | null}``. ``id`` is the line's cursor: pass it as ``after`` to read on.
``next`` is set when the reply stopped short of ``limit`` to stay under the reply size: ask again from it.
``floor`` (with ``follow``): every ``LOGS`` message up to this stream sequence is stored and, if it matches,
in this reply; a follower's live tail starts right after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from libs.contracts.commands import Command

MAX_LIMIT = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Kind = Literal["session", "build", "job"]


class QueryLogs(Command):
    service: ClassVar[str] = "logs"
    name: ClassVar[str] = "query_logs"

    kind: Kind = "session"
    id: str = Field(min_length=1, max_length=200)
    run: int | None = Field(None, ge=0)  # None: the latest run stored
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    after: str | None = None  # a line's cursor (``id``)
    limit: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT)
    stream: Literal["stdout", "stderr"] | None = None
    source: Literal["user", "system"] | None = None
    #: only lines already behind the ingestion's ack floor, and that floor in the reply (for a follow)
    follow: bool = False

    @model_validator(mode="after")
    def _range(self) -> QueryLogs:
        if self.start_at and self.end_at and self.end_at < self.start_at:
            raise ValueError("end_at is before start_at")
        if self.after is not None:
            parse_cursor(self.after)
        return self


def cursor(created_at: datetime, source: str, seq: int) -> str:
    """``<microseconds since the epoch>-<u|s>-<seq>``: where a line sits in its run's order."""
    micros = (created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{source[0]}-{seq}"


def parse_cursor(value: str) -> tuple[int, str, int]:
    """``(microseconds, source, seq)``; ``ValueError`` for anything that is not a cursor."""
    parts = value.split("-")
    if len(parts) != 3 or parts[1] not in ("u", "s") or not parts[0].isdigit() or not parts[2].isdigit():
        raise ValueError(f"not a log cursor: {value!r}")
    return int(parts[0]), "user" if parts[1] == "u" else "system", int(parts[2])


def cursor_time(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
