"""Typed errors of the event store."""

from __future__ import annotations

from libs.contracts.errors import Conflict


class WrongExpectedVersion(Conflict):
    code, title = "wrong_expected_version", "Wrong expected version"


class IdempotencyConflict(Conflict):
    code, title = "idempotency_conflict", "Some of these event ids are already stored elsewhere"


class CheckpointMoved(Conflict):
    """A compare-and-set on a checkpoint found it moved: another instance of the consumer is running."""

    code, title = "checkpoint_moved", "Checkpoint moved under this consumer"
