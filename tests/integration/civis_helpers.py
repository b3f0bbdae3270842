"""Helpers for the Civis dialect's tests: the real ``civis`` client against a running system (``studios up``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import civis


def client(base_url: str, key: str) -> civis.APIClient:
    """The client as a Civis user makes it; ``CIVIS_API_ENDPOINT`` is set by the test's ``monkeypatch``.
    ``force_refresh_api_spec``: each system has its own document (and the client caches one per key)."""
    return civis.APIClient(api_key=key, force_refresh_api_spec=True)


def count_events(database_url: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM es.events"))
        finally:
            await conn.close()

    return asyncio.run(count())


def state_is(*states: str) -> Callable[[Any], bool]:
    wanted = {s.lower() for s in states}
    return lambda deployment: str(deployment.state).lower() in wanted
