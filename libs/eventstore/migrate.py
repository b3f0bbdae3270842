"""SQL migrations applied in order at start, safe when several processes start at once.

Each source is a namespace (``eventstore``, ``gateway`` ...) and a folder of ``NNNN_name.sql`` files. The whole run
holds a transaction-level advisory lock, so a second process waits, then finds everything applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from libs.eventstore.types import Conn

_LOCK_KEY = 0x5354_5544_494F  # "STUDIO"
_FILE = re.compile(r"^(\d{4})_[\w-]+\.sql$")


@dataclass(frozen=True)
class MigrationSource:
    namespace: str
    directory: Path

    def files(self) -> list[tuple[int, Path]]:
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _FILE.match(p.name))]
        return sorted(found)


EVENT_STORE = MigrationSource("eventstore", Path(__file__).parent / "migrations")


async def migrate(conn: Conn, *sources: MigrationSource) -> list[str]:
    """Apply what is missing of the event store's and the given sources' migrations; returns what was applied."""
    applied: list[str] = []
    async with conn.transaction():
        # A migration may rightly run longer than the connections' statement_timeout (an index on a big table),
        # and a second process waits here for the first one's whole run: no limit, for this transaction only.
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS public.schema_migrations (
                 namespace text NOT NULL, version int NOT NULL, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, version))"""
        )
        for source in (EVENT_STORE, *(s for s in sources if s != EVENT_STORE)):
            done = {
                r["version"]
                for r in await conn.fetch(
                    "SELECT version FROM public.schema_migrations WHERE namespace = $1", source.namespace
                )
            }
            for version, path in source.files():
                if version in done:
                    continue
                await conn.execute(path.read_text())
                await conn.execute(
                    "INSERT INTO public.schema_migrations (namespace, version, name) VALUES ($1, $2, $3)",
                    source.namespace, version, path.name,
                )
                applied.append(f"{source.namespace}/{path.name}")
    return applied
