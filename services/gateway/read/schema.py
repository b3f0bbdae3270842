"""The gateway's SQL migrations (read models in schema ``read``), applied with the event store's."""

from __future__ import annotations

from pathlib import Path

from libs.eventstore import MigrationSource

GATEWAY = MigrationSource("gateway", Path(__file__).parent / "migrations")
