"""The language services share: events, commands, errors and subjects."""

from libs.contracts.commands import Command, Reply
from libs.contracts.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    StudiosError,
    Unauthenticated,
    Unavailable,
)
from libs.contracts.events import Event, EventRegistry, registry

__all__ = [
    "Command",
    "Conflict",
    "Event",
    "EventRegistry",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Reply",
    "StudiosError",
    "Unauthenticated",
    "Unavailable",
    "registry",
]
