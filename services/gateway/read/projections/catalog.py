"""The gateway's projections as the ``studios projections`` CLI sees them: registered in ``pyproject.toml`` under
the entry point group ``studios.projections`` (``libs/eventstore/projections.py`` says why)."""

from __future__ import annotations

from collections.abc import Sequence

from libs.eventstore import EventStore, MigrationSource
from libs.eventstore.projections import ProjectionStatus
from services.gateway.read.projections import PROJECTIONS, rebuild
from services.gateway.read.schema import GATEWAY


class GatewayProjections:
    migrations: Sequence[MigrationSource] = (GATEWAY,)

    def names(self) -> Sequence[str]:
        return sorted(PROJECTIONS)

    async def status(self, store: EventStore, name: str | None = None) -> list[ProjectionStatus]:
        return await rebuild.status(store, name)

    async def rebuild(self, store: EventStore, name: str) -> ProjectionStatus:
        return await rebuild.rebuild(store, name)


CATALOG = GatewayProjections()
