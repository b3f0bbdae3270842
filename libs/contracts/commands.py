"""Command and reply models for NATS request/reply between services."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Command(BaseModel):
    """An instruction to a service (imperative name). ``service`` and ``name`` give its subject."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str]
    name: ClassVar[str]


class Reply(BaseModel):
    """What a command answers: the appended global position (for read-your-writes) and a result, or an error."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = True
    position: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
