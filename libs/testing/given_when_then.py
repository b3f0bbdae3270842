"""``given(events).when(command).then(expected)`` for any pure aggregate (``decide``/``evolve``/``INITIAL``).

    spec = Aggregate.of(studio)               # any module (or object) with decide, evolve and INITIAL
    state = spec.given(created).when(StartStudio(...)).then(start_requested)
    spec.given(created, deleted).when(StartStudio(...)).then_raises(NotFound)

``then`` folds the produced events too, so every event a test expects is also proven to fold, and it returns
the resulting state for assertions the events alone do not show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from libs.contracts.events import Event

S = TypeVar("S")
C = TypeVar("C")
Events = Event | Iterable[Event]


def _flatten(items: Iterable[Events]) -> list[Event]:
    out: list[Event] = []
    for item in items:
        out.extend([item] if isinstance(item, Event) else item)
    return out


@dataclass(frozen=True)
class Aggregate(Generic[S, C]):
    decide: Callable[[S, C], Sequence[Event]]
    evolve: Callable[[S, Event], S]
    initial: S

    @classmethod
    def of(cls, module: Any) -> Aggregate[Any, Any]:
        """Every aggregate module follows one convention: ``decide``, ``evolve`` and ``INITIAL``."""
        missing = [name for name in ("decide", "evolve", "INITIAL") if not hasattr(module, name)]
        if missing:
            raise TypeError(f"{getattr(module, '__name__', module)!s} is not an aggregate module: it lacks "
                            f"{', '.join(missing)}")
        return cls(module.decide, module.evolve, module.INITIAL)

    def fold(self, events: Iterable[Event], state: S | None = None) -> S:
        current = self.initial if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current

    def given(self, *events: Events) -> Given[S, C]:
        return Given(self, self.fold(_flatten(events)))


@dataclass(frozen=True)
class Given(Generic[S, C]):
    aggregate: Aggregate[S, C]
    state: S

    def when(self, command: C) -> When[S, C]:
        return When(self, command)


@dataclass(frozen=True)
class When(Generic[S, C]):
    given: Given[S, C]
    command: C

    def then(self, *expected: Events) -> S:
        actual = list(self.given.aggregate.decide(self.given.state, self.command))
        wanted = _flatten(expected)
        if actual != wanted:
            raise AssertionError(f"\nexpected events:\n{_show(wanted)}\nactual events:\n{_show(actual)}")
        return self.given.aggregate.fold(actual, self.given.state)

    def then_nothing(self) -> S:
        """The command was a harmless no-op (a redelivery, a stale run)."""
        return self.then()

    def then_raises(self, error: type[BaseException], match: str | None = None) -> BaseException:
        try:
            events = self.given.aggregate.decide(self.given.state, self.command)
        except error as exc:
            if match is not None and not re.search(match, str(exc)):
                raise AssertionError(f"{error.__name__} raised, but {str(exc)!r} does not match {match!r}") from exc
            return exc
        raise AssertionError(f"expected {error.__name__}, got events:\n{_show(list(events))}")


def _show(events: Sequence[Event]) -> str:
    return "\n".join(f"  {type(e).__name__}{e.model_dump()}" for e in events) or "  (none)"
