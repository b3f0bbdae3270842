"""Infrastructure for tests: real PostgreSQL and NATS JetStream, never mocks.

``DATABASE_URL``/``NATS_URL`` when set; else testcontainers where a Docker engine answers (and
``STUDIOS_TEST_CONTAINERS`` is not ``0``); else the embedded servers in a fresh directory per test session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from libs.platform.infra import EmbeddedNats, EmbeddedPostgres


def docker_answers() -> bool:
    if os.environ.get("STUDIOS_TEST_CONTAINERS") == "0":
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as pg, \
            DockerContainer("nats:2.10-alpine").with_command("-js").with_exposed_ports(4222) as nats:
        url = pg.get_connection_url()
        nurl = f"nats://{nats.get_container_host_ip()}:{nats.get_exposed_port(4222)}"
        yield url, nurl


@contextlib.contextmanager
def test_infrastructure() -> Iterator[tuple[str, str]]:
    db, nats = os.environ.get("DATABASE_URL"), os.environ.get("NATS_URL")
    if db and nats:
        yield db, nats
        return
    if not (db or nats) and docker_answers():
        with _containers() as urls:
            yield urls
        return
    root = Path(tempfile.mkdtemp(prefix="studios-test-"))
    pg = EmbeddedPostgres(root / "postgres") if not db else None
    ns = EmbeddedNats(root / "nats") if not nats else None
    try:
        yield (db or pg.start()), (nats or ns.start())  # type: ignore[union-attr]
    finally:
        if ns:
            ns.stop()
        if pg:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(server_url: str, prefix: str = "t") -> str:
    """A new empty database on the same server, so tests that count events start from nothing."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)
