"""The logs service's SQL migrations (schema ``logs``), applied with the event store's at start."""

from __future__ import annotations

from pathlib import Path

from libs.eventstore import MigrationSource

LOGS = MigrationSource("logs", Path(__file__).parent / "migrations")
