"""Command and reply models for NATS request/reply between services, and the envelope a command travels in.

A command's envelope (``CommandMeta``: its id, the correlation id, the W3C ``traceparent``) is not part of the
command (STYLE §4): it travels in request headers and ends up in the metadata of every event the command decides.
The command id makes a command idempotent: the events it decides get ids derived from it, so a retry with the same
id finds them and answers the first result instead of deciding again (DESIGN §2).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Collection
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts.errors import StudiosError

#: ``version-traceid-parentid-flags``, lower-case hex (W3C Trace Context); anything else is not passed on.
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


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


def valid_traceparent(value: str | None) -> str | None:
    """``value`` if it is a W3C ``traceparent``, else None: the spec has a receiver treat an invalid one as absent
    (version ``ff``, an all-zero trace or parent id are invalid too)."""
    if value is None:
        return None
    value = value.strip()
    if not TRACEPARENT.match(value):
        return None
    version, trace_id, parent_id, _ = value.split("-")
    return None if version == "ff" or set(trace_id) == {"0"} or set(parent_id) == {"0"} else value


class CommandMeta(BaseModel):
    """Where a command comes from. A sender that gives no id gets a fresh one: every command carries an id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    #: the id shared by everything one user action set off; the command id when the sender gives none
    correlation_id: str | None = None
    traceparent: str | None = None
    #: the service that sent the command (``gateway``), kept beside ``source`` (the one that decided)
    origin: str | None = None

    def event_metadata(self, *, actor: str | None, source: str, fingerprint: str | None = None) -> dict[str, str]:
        """The metadata of each event this command decides (DESIGN §2). The event's cause is the command."""
        command_id = str(self.command_id)
        md = {"command_id": command_id, "causation_id": command_id,
              "correlation_id": self.correlation_id or command_id, "source": source}
        optional = {"actor": actor, "traceparent": self.traceparent, "origin": self.origin,
                    "command_hash": fingerprint}
        md.update({k: v for k, v in optional.items() if v})
        return md


def fingerprint(cmd: Command, exclude: Collection[str] = ("now",)) -> str:
    """A digest of what the command asks for, to tell a true retry from a reused command id with another body.
    ``now`` is left out by default: the handler stamps it, so it differs between a command and its retry."""
    body = {"command": f"{cmd.service}.{cmd.name}", **cmd.model_dump(mode="json", exclude=set(exclude))}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class IdempotencyKeyReused(StudiosError):
    """A command id (an ``Idempotency-Key``) that already decided a different command: nothing is decided."""

    code, status, title = "idempotency_key_reused", 422, "Idempotency key reused"
