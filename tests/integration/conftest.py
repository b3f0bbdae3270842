"""Fixtures the integration modules share (the session-wide infrastructure is in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from libs.eventstore import EventStore
from libs.testing.podman import docker_engine  # noqa: F401 - here once: one engine for the whole run
from services.gateway.read.schema import GATEWAY
from tests.integration.studios_api_helpers import Api, running_api


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """The Seqera Studios API in process on a fresh database, its projection running (``test_identity_api``
    overrides this with the identity routes' own ``api``)."""
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    try:
        async with running_api(store) as a:
            yield a
    finally:
        await store.close()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A plain NATS connection to the test session's server, drained at the end."""
    conn = await nats.connect(nats_url)
    try:
        yield conn
    finally:
        await conn.drain()
