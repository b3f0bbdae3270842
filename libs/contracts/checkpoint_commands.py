"""Commands to the checkpoints service (``studios.cmd.checkpoints.<name>``).

Lifecycle sends ``restore_checkpoint`` and ``save_checkpoint`` for a run it starts, runs and stops, and waits for
the reply (a save at stop completes before the compute is released); the gateway sends renames and deletes.
``now`` is re-stamped by the service's handler (the domain has no clock). ``workspace`` is the run's folder as
the checkpoints service sees it (the same host for the ``local`` backend); ``exclude`` names paths relative to it
that are never saved (mounted data links).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from libs.contracts.checkpoint import SaveKind
from libs.contracts.commands import Command


class CheckpointCommand(Command):
    service: ClassVar[str] = "checkpoints"
    session_id: str
    now: AwareDatetime
    actor: str
    reason: str | None = None


class SaveCheckpoint(CheckpointCommand):
    name: ClassVar[str] = "save_checkpoint"
    run: int
    kind: SaveKind
    workspace: str
    workspace_id: str
    author_id: str
    exclude: tuple[str, ...] = ()
    #: the checkpoint ``restore_checkpoint`` put in the workspace (its reply's ``checkpointId``): the first save of
    #: the run starts from its manifest, so restored files are not read again
    restored_from: int | None = None


class RestoreCheckpoint(CheckpointCommand):
    """Restore the studio's latest good checkpoint of an earlier run into ``workspace``; for a studio that has
    none, ``initial_checkpoint_id`` (the checkpoint it was cloned from). Refused while the studio runs."""

    name: ClassVar[str] = "restore_checkpoint"
    run: int
    workspace: str
    initial_checkpoint_id: int | None = None
    exclude: tuple[str, ...] = ()


class RenameCheckpoint(CheckpointCommand):
    name: ClassVar[str] = "rename_checkpoint"
    checkpoint_id: int
    new_name: str


class DeleteCheckpoint(CheckpointCommand):
    name: ClassVar[str] = "delete_checkpoint"
    checkpoint_id: int


class CollectGarbage(CheckpointCommand):
    """Remove chunks and manifests nothing references any more, older than the grace period."""

    name: ClassVar[str] = "collect_garbage"
    session_id: str = "*"
    grace_seconds: float | None = None  # None: the service's setting
