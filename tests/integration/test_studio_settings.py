"""Workspace Studios settings on the real store: concurrent PUTs are decided one on top of the other, so neither
loses the other's fields (the route used to merge the raw last event and append without a retry)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from libs.contracts import studio_settings as ev
from libs.eventstore import EventStore, load
from services.gateway.domain import studio_settings as settings
from services.gateway.handlers.studio_settings import change_settings

T = datetime(2025, 1, 1, tzinfo=UTC)


async def test_concurrent_changes_keep_each_others_fields(store: EventStore) -> None:
    changes = [{"lifespan_hours": 8}, {"private_studio_by_default": True}, {"container_repository": "ghcr.io/a"},
               {"name_strategy": "tagPrefix"}]
    positions = await asyncio.gather(*(change_settings(store, 1, 10, c, T, "7") for c in changes))
    assert all(p is not None for p in positions)
    state, version = await load(store, ev.stream_name("1"), settings.evolve, settings.INITIAL)
    assert version == 3
    assert state.values == settings.Values(8, True, "ghcr.io/a", "tagPrefix")


async def test_a_repeated_change_appends_nothing(store: EventStore) -> None:
    assert await change_settings(store, 1, 10, {"lifespan_hours": 8}, T, "7") is not None
    assert await change_settings(store, 1, 10, {"lifespan_hours": 8}, T, "7") is None
    assert len(await store.read_stream(ev.stream_name("1"))) == 1
