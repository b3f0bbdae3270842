"""Typed errors of the event store."""

from __future__ import annotations

from libs.contracts.errors import Conflict, InvalidInput, StudiosError
from libs.eventstore.types import MAX_DATA


class WrongExpectedVersion(Conflict):
    code, title = "wrong_expected_version", "Wrong expected version"


class IdempotencyConflict(Conflict):
    code, title = "idempotency_conflict", "Some of these event ids are already stored elsewhere"


class CheckpointMoved(Conflict):
    """A compare-and-set on a checkpoint found it moved: another instance of the consumer is running."""

    code, title = "checkpoint_moved", "Checkpoint moved under this consumer"


class NameNotHeld(Conflict):
    """A ``NameReleased`` by a stream that does not hold the name (someone else does, or nobody)."""

    code, title = "name_not_held", "This name is not held by the one releasing it"


class TransactionHasId(StudiosError):
    """``append(conn=...)`` in a transaction that already wrote: its events would commit out of horizon order.
    A programming error (500), not the client's."""

    code, title = "transaction_has_id", "Append in a transaction that has already written"


class EventTooLarge(InvalidInput, ValueError):
    """An event's data over ``MAX_DATA``: large data goes to a blob store and the event carries its uri (DESIGN).
    A ``ValueError`` like the store's other refusals of bad input, and a 400 where a command answers with it."""

    code, title = "event_too_large", "Event data too large"

    def __init__(self, stream: str) -> None:
        super().__init__(f"an event's data may hold at most {MAX_DATA} bytes, one for {stream} holds more: put "
                         "large data in a blob store and give the event its uri", stream=stream)
