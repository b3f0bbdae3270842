"""The gateway's projections on events they cannot apply: an unknown type is parked, never skipped; a studio whose
stream has a hole stops there and shows failing, and never folds position N+1 over a missing N."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from libs.contracts import registry
from libs.contracts.studio import StudioDeleted
from libs.eventstore import EventStore, NewEvent, parked
from services.gateway.read.projections import base as projections
from services.gateway.read.projections.identity import IDENTITY
from services.gateway.read.projections.rebuild import status
from services.gateway.read.projections.studios import STUDIOS
from services.gateway.read.schema import GATEWAY
from services.lifecycle.handlers import StudioHandlers
from tests.integration.lifecycle_harness import create

FAST = {"backoff_min": 0.001, "max_attempts": 3}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, sources=[GATEWAY])
    try:
        yield s
    finally:
        await s.close()


async def studio_with_a_hole(store: EventStore) -> str:
    """A studio (position 0), an event type nobody knows (1), then its deletion (2)."""
    cmd = create("holey", auto_start=False)
    await StudioHandlers(store).handle(cmd)
    sid = cmd.session_id
    _, _, deleted = registry.dump(StudioDeleted(session_id=sid, at=datetime.now(UTC), actor="1", workspace_id="1",
                                                name="holey"))
    await store.append(f"studio-{sid}", [NewEvent("StudioFrobnicated", {"session_id": sid}),
                                         NewEvent("StudioDeleted", deleted)])
    return sid


async def _row(store: EventStore, sid: str) -> tuple[int, bool]:
    row = await store.pool.fetchrow("SELECT version, deleted FROM read.studios WHERE session_id = $1", sid)
    assert row is not None
    return row["version"], row["deleted"]


async def test_a_studio_stops_at_a_hole_and_shows_failing(store: EventStore) -> None:
    sid = await studio_with_a_hole(store)
    await projections.subscription(store, STUDIOS, 1, **FAST).catch_up()
    assert await _row(store, sid) == (0, False)  # the deletion at 2 is not applied over the missing 1
    failed, held = await parked.list_parked(store.pool, "studios_v1")
    assert (failed.stream_position, failed.attempts) == (1, 3) and "UnknownEventType" in failed.error
    assert (held.stream_position, held.held) == (2, True)
    [st] = await status(store, "studios")
    assert st.state == "failing" and st.parked == 2 and st.lag == 0
    assert st.error is not None and f"studio-{sid}@1" in st.error


async def test_a_discarded_event_still_never_lets_the_next_fold_over_it(store: EventStore) -> None:
    sid = await studio_with_a_hole(store)
    sub = projections.subscription(store, STUDIOS, 1, **FAST)
    await sub.catch_up()
    failed, held = await parked.list_parked(store.pool, "studios_v1")
    assert await parked.discard(store.pool, failed.event_id) == 1
    assert await parked.request_retry(store.pool, event_id=held.event_id) == 1
    await sub.run_once()  # the consumer carries out the retry: the projection finds the gap
    [again] = await parked.list_parked(store.pool, "studios_v1")
    assert again.event_id == held.event_id and again.attempts == 1
    assert f"StreamGap: gap in studio-{sid}: applied up to position 0, next event is at 2" == again.error
    assert await _row(store, sid) == (0, False)


async def test_an_unknown_identity_event_is_parked_not_skipped(store: EventStore) -> None:
    await store.append("user-5000", [NewEvent("UserFrobnicated", {"user_id": 5000})])
    await projections.subscription(store, IDENTITY, 1, **FAST).catch_up()
    [row] = await parked.list_parked(store.pool, "gateway.identity_v1")
    assert row.event_type == "UserFrobnicated" and "UnknownEventType" in row.error
    [st] = await status(store, IDENTITY.name)
    assert st.state == "failing" and st.parked == 1
