"""The one wall clock. Domain code never calls it: the glue stamps ``now`` into a command, and tests inject
their own clock (any ``Clock``) where the glue takes one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def now() -> datetime:
    """The current time, always timezone-aware UTC (events carry aware datetimes only)."""
    return datetime.now(UTC)
