"""Day partitions of ``logs.lines_<kind>``: created ahead of time (and on demand for a late or early line),
dropped whole when older than the kind's retention. Native declarative partitioning, no extension.

A partition is ``logs.lines_<kind>_<yyyymmdd>`` holding ``[day, day + 1)`` in UTC.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from libs.eventstore.types import Conn
from libs.logs.lines import KINDS

log = logging.getLogger("studios.logs.partitions")
_NAME = re.compile(r"^lines_(session|build|job)_(\d{8})$")
#: Concurrent creators (two logs processes) serialise on this, so neither fails on the other's table.
_LOCK = 0x4C4F_4753  # "LOGS"


def partition_name(kind: str, day: date) -> str:
    return f"lines_{kind}_{day:%Y%m%d}"


class Partitions:
    def __init__(self) -> None:
        self._known: set[tuple[str, date]] = set()

    def forget(self) -> None:
        """Drop the cache (another process dropped a partition this one knew)."""
        self._known.clear()

    async def ensure(self, conn: Conn, wanted: Iterable[tuple[str, date]]) -> None:
        """Create the day partitions in ``wanted`` that do not exist yet (cached: a known one costs nothing)."""
        missing = sorted(set(wanted) - self._known)
        if not missing:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            for kind, day in missing:
                if kind not in KINDS:
                    raise ValueError(f"unknown log kind {kind!r}")
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS logs.{partition_name(kind, day)} PARTITION OF logs.lines_{kind} "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')")
        self._known.update(missing)

    async def ensure_ahead(self, conn: Conn, today: date, days_ahead: int) -> None:
        await self.ensure(conn, [(k, today + timedelta(days=d)) for k in KINDS for d in range(-1, days_ahead + 1)])

    async def existing(self, conn: Conn) -> list[tuple[str, date]]:
        rows = await conn.fetch("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'logs' AND c.relkind = 'r'")
        found = []
        for r in rows:
            if m := _NAME.match(r["relname"]):
                found.append((m.group(1), datetime.strptime(m.group(2), "%Y%m%d").date()))
        return sorted(found)

    async def drop_expired(self, conn: Conn, today: date, retention_days: dict[str, int]) -> list[str]:
        """Drop every day partition wholly older than its kind's retention; returns the tables dropped."""
        dropped = []
        for kind, day in await self.existing(conn):
            if day + timedelta(days=1) <= today - timedelta(days=retention_days[kind]):
                await self.drop(conn, kind, day)
                dropped.append(partition_name(kind, day))
        return dropped

    async def drop(self, conn: Conn, kind: str, day: date) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            await conn.execute(f"DROP TABLE IF EXISTS logs.{partition_name(kind, day)}")
        self._known.discard((kind, day))
        log.info("dropped log partition %s", partition_name(kind, day))
