"""Checkpoint events (stream ``checkpoint-<id>``, owned by the checkpoints service) and the values they carry.

A checkpoint is one session run's saved workspace: created when the run starts, saved again every few minutes
while it runs (``interim``) and a last time when it stops (``finalized``). Each save points at a manifest in the
blob store (``{uri, sha256, size}``: large data never goes into an event). Status values are Seqera's
``StudioCheckpointStatus``. The id is an int64 derived from the studio and run (``checkpoint_id``), so a retried
save lands on the same stream and the id can be computed without a look-up.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from libs.contracts.events import Event, registry

CATEGORY = "checkpoint"
#: reservation streams of checkpoint names, unique per studio: ``checkpointname-<sessionId>:<name>``
NAME_CATEGORY = "checkpointname"


def stream_name(checkpoint_id: int) -> str:
    return f"{CATEGORY}-{checkpoint_id}"


def checkpoint_id(session_id: str, run: int) -> int:
    """The checkpoint of a run: a positive int below 2**53 (exact in JavaScript clients, Seqera's ``int64``)."""
    digest = hashlib.sha256(f"{session_id}:{run}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 11 or 1


def name_key(session_id: str, name: str) -> str:
    return f"{session_id}:{name}"


class CheckpointStatus(StrEnum):
    EMPTY = "empty"
    INTERIM = "interim"
    FINALIZED = "finalized"
    INVALID = "invalid"


GOOD = frozenset({CheckpointStatus.EMPTY, CheckpointStatus.INTERIM, CheckpointStatus.FINALIZED})


class SaveKind(StrEnum):
    """Why a save is taken: at the start of a run, on the interim timer, or when the run stops."""

    START = "start"
    INTERIM = "interim"
    FINAL = "final"


class ManifestRef(BaseModel):
    """Where a save's manifest is: blob key, sha256 of its stored bytes, and their size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    sha256: str
    size: int


class CheckpointEvent(Event):
    checkpoint_id: int
    session_id: str
    at: AwareDatetime
    actor: str
    reason: str | None = None


@registry.register
class CheckpointCreated(CheckpointEvent):
    event_type: ClassVar[str] = "CheckpointCreated"
    run: int
    name: str
    workspace_id: str
    author_id: str  # the user the studio belongs to (Seqera's ``author``)
    path: str  # where its manifests live in the blob store
    #: the checkpoint the run's workspace was restored from (a previous run, or another studio's for a clone)
    restored_from: int | None = None
    #: the folder saved (as the checkpoints service sees it) and what in it is never saved: interim saves use them
    workspace: str = ""
    exclude: tuple[str, ...] = ()


@registry.register
class CheckpointSaved(CheckpointEvent):
    event_type: ClassVar[str] = "CheckpointSaved"
    kind: SaveKind
    status: CheckpointStatus
    manifest: ManifestRef
    size: int  # bytes of the files it holds
    file_count: int
    bytes_written: int  # compressed bytes this save added to the blob store
    chunks_written: int
    files_read: int  # files whose size or mtime changed, so were read again


@registry.register
class CheckpointSaveFailed(CheckpointEvent):
    """A save that did not complete. The last good save stays what the checkpoint holds; with none, it is invalid."""

    event_type: ClassVar[str] = "CheckpointSaveFailed"
    kind: SaveKind
    message: str


@registry.register
class CheckpointInvalidated(CheckpointEvent):
    """Found broken (a chunk whose digest does not match on restore): never restored again."""

    event_type: ClassVar[str] = "CheckpointInvalidated"
    message: str


@registry.register
class CheckpointRestored(CheckpointEvent):
    """Restored into a run of a studio (``session_id`` is the checkpoint's; ``into_session_id`` the target's)."""

    event_type: ClassVar[str] = "CheckpointRestored"
    into_session_id: str
    into_run: int
    files: int
    size: int


@registry.register
class CheckpointRenamed(CheckpointEvent):
    event_type: ClassVar[str] = "CheckpointRenamed"
    name: str
    previous_name: str


@registry.register
class CheckpointDeleted(CheckpointEvent):
    event_type: ClassVar[str] = "CheckpointDeleted"
    name: str


CHECKPOINT_EVENTS: tuple[type[CheckpointEvent], ...] = (
    CheckpointCreated, CheckpointSaved, CheckpointSaveFailed, CheckpointInvalidated, CheckpointRestored,
    CheckpointRenamed, CheckpointDeleted)
