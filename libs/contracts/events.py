"""The event base class and the registry that maps stored rows back to typed events.

The event type and schema version live in the envelope (the store row and the NATS headers), not in the
payload, so the registry, keyed by ``event_type``, plays the part of the discriminated union: a row's type
column picks the class, upcasters lift old payloads to the current version, and pydantic validates the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(BaseModel):
    """A fact that happened. Subclasses set ``event_type`` (past tense) and ``schema_version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


E = TypeVar("E", bound=type[Event])


class UnknownEventType(LookupError):
    pass


class EventRegistry:
    """Maps ``event_type`` to its model and upcasts old schema versions on load."""

    def __init__(self) -> None:
        self._types: dict[str, type[Event]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: E) -> E:
        existing = self._types.get(cls.event_type)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.event_type!r} registered twice")
        self._types[cls.event_type] = cls
        return cls

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register ``fn(data_v{n}) -> data_v{n+1}``."""

        def deco(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return deco

    def known(self, event_type: str) -> bool:
        return event_type in self._types

    def types(self) -> dict[str, type[Event]]:
        return dict(self._types)

    def dump(self, event: Event) -> tuple[str, int, dict[str, Any]]:
        return event.event_type, event.schema_version, event.model_dump(mode="json")

    def load(self, event_type: str, schema_version: int, data: dict[str, Any]) -> Event:
        cls = self._types.get(event_type)
        if cls is None:
            raise UnknownEventType(event_type)
        version = schema_version
        while version < cls.schema_version:
            data = self._upcasters[(event_type, version)](data)
            version += 1
        return cls.model_validate(data)


#: The registry every service's events are added to (``@registry.register`` on each event class).
registry = EventRegistry()
