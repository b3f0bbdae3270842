"""The checkpoint aggregate: ``decide(state, command) -> list[Event]`` and ``evolve(state, event) -> State``.

Pure: no I/O, no clock. What needs a look-up across streams (is this the studio's latest good checkpoint, does
the studio still exist) is found by the handler and given in the command. A report that arrives twice (the same
save, a second invalidation) answers ``[]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import Any

from pydantic import BaseModel, ConfigDict

from libs.contracts.checkpoint import (
    GOOD,
    CheckpointCreated,
    CheckpointDeleted,
    CheckpointEvent,
    CheckpointInvalidated,
    CheckpointRenamed,
    CheckpointRestored,
    CheckpointSaved,
    CheckpointSaveFailed,
    CheckpointStatus,
    ManifestRef,
    SaveKind,
)
from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event

MAX_NAME = 100


class State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    exists: bool = False
    deleted: bool = False
    checkpoint_id: int = 0
    session_id: str = ""
    run: int = 0
    name: str = ""
    workspace_id: str = ""
    author_id: str = ""
    path: str = ""
    status: CheckpointStatus = CheckpointStatus.EMPTY
    manifest: ManifestRef | None = None
    restored_from: int | None = None
    workspace: str = ""
    exclude: tuple[str, ...] = ()
    size: int = 0
    file_count: int = 0
    date_created: datetime | None = None
    date_saved: datetime | None = None
    last_failure: str | None = None

    @property
    def good(self) -> bool:
        return self.exists and not self.deleted and self.status in GOOD


INITIAL = State()


@dataclass(frozen=True)
class _Command:
    checkpoint_id: int
    session_id: str
    now: datetime
    actor: str

    def fields(self) -> dict[str, Any]:
        return {"checkpoint_id": self.checkpoint_id, "session_id": self.session_id, "at": self.now,
                "actor": self.actor}


@dataclass(frozen=True)
class Create(_Command):
    run: int
    name: str
    workspace_id: str
    author_id: str
    path: str
    restored_from: int | None = None
    workspace: str = ""
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordSave(_Command):
    kind: SaveKind
    manifest: ManifestRef
    size: int
    file_count: int
    bytes_written: int
    chunks_written: int
    files_read: int


@dataclass(frozen=True)
class RecordSaveFailed(_Command):
    kind: SaveKind
    message: str


@dataclass(frozen=True)
class Invalidate(_Command):
    message: str


@dataclass(frozen=True)
class RecordRestore(_Command):
    into_session_id: str
    into_run: int
    files: int
    size: int


@dataclass(frozen=True)
class Rename(_Command):
    new_name: str


@dataclass(frozen=True)
class Delete(_Command):
    #: found by the handler: the studio still exists and this is its latest good checkpoint
    last_good_of_live_studio: bool


def normalize_name(name: str) -> str:
    """Seqera's rule: spaces become underscores. Empty, too long or control characters are refused."""
    out = "_".join(name.strip().split(" "))
    if not out or len(out) > MAX_NAME or any(ord(c) < 32 for c in out):
        raise InvalidInput(f"a checkpoint name has 1 to {MAX_NAME} printable characters", field="name")
    return out


def decide(state: State, command: _Command) -> list[Event]:
    if isinstance(command, Create):
        if state.exists:
            return []  # the run's checkpoint exists already: a repeated start save
        return [CheckpointCreated(**command.fields(), run=command.run, name=normalize_name(command.name),
                                  workspace_id=command.workspace_id, author_id=command.author_id,
                                  path=command.path, restored_from=command.restored_from,
                                  workspace=command.workspace, exclude=command.exclude)]
    if not state.exists or state.deleted:
        raise NotFound(f"Checkpoint {command.checkpoint_id} not found", checkpoint_id=command.checkpoint_id)
    return _decide(command, state)


@singledispatch
def _decide(command: _Command, state: State) -> list[Event]:
    raise InvalidInput(f"unknown checkpoint command {type(command).__name__}")


@_decide.register
def _(c: RecordSave, s: State) -> list[Event]:
    if s.manifest == c.manifest and s.status is _status(c):
        return []  # the same save reported twice
    if s.status is CheckpointStatus.FINALIZED:
        raise Conflict(f"Checkpoint {s.checkpoint_id} is finalized")
    return [CheckpointSaved(**c.fields(), kind=c.kind, status=_status(c), manifest=c.manifest, size=c.size,
                            file_count=c.file_count, bytes_written=c.bytes_written, chunks_written=c.chunks_written,
                            files_read=c.files_read)]


def _status(c: RecordSave) -> CheckpointStatus:
    if c.kind is SaveKind.FINAL:
        return CheckpointStatus.FINALIZED
    if c.kind is SaveKind.START and c.file_count == 0:
        return CheckpointStatus.EMPTY
    return CheckpointStatus.INTERIM


@_decide.register
def _(c: RecordSaveFailed, s: State) -> list[Event]:
    return [CheckpointSaveFailed(**c.fields(), kind=c.kind, message=c.message)]


@_decide.register
def _(c: Invalidate, s: State) -> list[Event]:
    if s.status is CheckpointStatus.INVALID and s.last_failure == c.message:
        return []
    return [CheckpointInvalidated(**c.fields(), message=c.message)]


@_decide.register
def _(c: RecordRestore, s: State) -> list[Event]:
    if not s.good:
        raise Conflict(f"Checkpoint {s.checkpoint_id} ({s.name}) is {s.status}: it cannot be restored")
    return [CheckpointRestored(**c.fields(), into_session_id=c.into_session_id, into_run=c.into_run,
                               files=c.files, size=c.size)]


@_decide.register
def _(c: Rename, s: State) -> list[Event]:
    name = normalize_name(c.new_name)
    if name == s.name:
        return []
    return [CheckpointRenamed(**c.fields(), name=name, previous_name=s.name)]


@_decide.register
def _(c: Delete, s: State) -> list[Event]:
    if c.last_good_of_live_studio:
        raise Conflict(f"Checkpoint {s.checkpoint_id} ({s.name}) is the studio's latest good checkpoint: "
                       "it is what the next start restores, and cannot be deleted while the studio exists")
    return [CheckpointDeleted(**c.fields(), name=s.name)]


def evolve(state: State, event: Event) -> State:
    if not isinstance(event, CheckpointEvent):
        return state
    return _evolve(event, state)


@singledispatch
def _evolve(event: CheckpointEvent, s: State) -> State:
    return s


@_evolve.register
def _(e: CheckpointCreated, s: State) -> State:
    return State(exists=True, checkpoint_id=e.checkpoint_id, session_id=e.session_id, run=e.run, name=e.name,
                 workspace_id=e.workspace_id, author_id=e.author_id, path=e.path, restored_from=e.restored_from,
                 workspace=e.workspace, exclude=e.exclude, date_created=e.at, date_saved=e.at)


@_evolve.register
def _(e: CheckpointSaved, s: State) -> State:
    return s.model_copy(update={"status": e.status, "manifest": e.manifest, "size": e.size,
                                "file_count": e.file_count, "date_saved": e.at})


@_evolve.register
def _(e: CheckpointSaveFailed, s: State) -> State:
    # a failed save never replaces the last good one; without one the checkpoint holds nothing usable
    status = CheckpointStatus.INVALID if s.manifest is None else s.status
    return s.model_copy(update={"status": status, "last_failure": e.message})


@_evolve.register
def _(e: CheckpointInvalidated, s: State) -> State:
    return s.model_copy(update={"status": CheckpointStatus.INVALID, "last_failure": e.message})


@_evolve.register
def _(e: CheckpointRenamed, s: State) -> State:
    return s.model_copy(update={"name": e.name})


@_evolve.register
def _(e: CheckpointDeleted, s: State) -> State:
    return s.model_copy(update={"deleted": True})
