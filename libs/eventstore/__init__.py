"""The event store: PostgreSQL schema ``es``, append, horizon reads, subscriptions, checkpoints."""

from libs.eventstore.connection import SERVER_SETTINGS
from libs.eventstore.errors import (
    CheckpointMoved,
    EventTooLarge,
    IdempotencyConflict,
    NameNotHeld,
    TransactionHasId,
    WrongExpectedVersion,
)
from libs.eventstore.execute import Executed, StateCache, execute, fold, load, to_new_events
from libs.eventstore.memory import InMemoryEventStore
from libs.eventstore.migrate import MigrationSource, migrate
from libs.eventstore.store import EventStore, create_pool
from libs.eventstore.subscription import Subscription
from libs.eventstore.types import (
    MAX_DATA,
    START,
    AppendRequest,
    AppendResult,
    Expected,
    ExpectedVersion,
    NewEvent,
    Position,
    RecordedEvent,
)

__all__ = [
    "MAX_DATA",
    "SERVER_SETTINGS",
    "START",
    "AppendRequest",
    "AppendResult",
    "CheckpointMoved",
    "EventStore",
    "EventTooLarge",
    "Executed",
    "Expected",
    "ExpectedVersion",
    "IdempotencyConflict",
    "InMemoryEventStore",
    "MigrationSource",
    "NameNotHeld",
    "NewEvent",
    "Position",
    "RecordedEvent",
    "StateCache",
    "Subscription",
    "TransactionHasId",
    "WrongExpectedVersion",
    "create_pool",
    "execute",
    "fold",
    "load",
    "migrate",
    "to_new_events",
]
