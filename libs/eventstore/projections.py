"""What a service that owns projections offers operators (``studios projections status|rebuild``), so that the
CLI in ``libs/`` can steer them without importing ``services/``.

A service registers a ``ProjectionCatalog`` under the entry point group ``studios.projections`` of its package
(``pyproject.toml``)::

    [project.entry-points."studios.projections"]
    gateway = "services.gateway.read.projections.catalog:CATALOG"

Why an entry point: it is Python's own plugin registry, read from the installed package's metadata, so the CLI
finds every service's projections without naming one; a service added later registers itself the same way; and
the CLI keeps working on a stopped system (it needs only the database, as ``studios checkpoints`` does). Asking the
gateway over the bus would need it running, and a rebuild can outlast a request's timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Protocol

from libs.eventstore.migrate import MigrationSource
from libs.eventstore.store import EventStore
from libs.eventstore.types import Position

ENTRY_POINT_GROUP = "studios.projections"


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    version: int
    building: int | None
    checkpoint: str
    position: Position
    #: events of its categories below the horizon it has yet to apply
    lag: int
    #: events its checkpoint has parked (failed, or held behind a failed one): ``studios parked list``
    parked: int
    #: the checkpoint's last error: a failing event being retried, or the streams stopped by parked events
    error: str | None
    updated_at: datetime | None
    paused: bool = False

    @property
    def state(self) -> str:
        if self.paused:
            return "paused"
        if self.error or self.parked:
            return "failing"
        return "building" if self.building is not None else "ok"


class ProjectionCatalog(Protocol):
    """A service's projections, by name."""

    #: the migrations that create the projections' tables (applied before any status or rebuild)
    migrations: Sequence[MigrationSource]

    def names(self) -> Sequence[str]: ...

    async def status(self, store: EventStore, name: str | None = None) -> list[ProjectionStatus]: ...

    async def rebuild(self, store: EventStore, name: str) -> ProjectionStatus: ...


def registered() -> list[ProjectionCatalog]:
    """Every catalog installed under ``studios.projections``."""
    return [ep.load() for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)]
