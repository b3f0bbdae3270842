"""The event store's contract, run against every store: PostgreSQL (``EventStore``) and ``InMemoryEventStore``.

One module, parametrized over both, so the fake that unit tests of handlers use cannot drift from the real store:
expected versions, idempotent retries, several streams atomically, commit-order reads, ids, name reservations.
What only PostgreSQL can show (connections, locks, transactions) is in ``test_eventstore.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from libs.eventstore import (
    MAX_DATA,
    START,
    AppendRequest,
    EventStore,
    EventTooLarge,
    Expected,
    IdempotencyConflict,
    InMemoryEventStore,
    NameNotHeld,
    NewEvent,
    WrongExpectedVersion,
)
from libs.eventstore.reservations import NameTaken, release, reserve
from libs.testing.infra import create_database

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Store = Any  # EventStore | InMemoryEventStore: the same calls


@pytest.fixture(params=["postgres", "memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = await create_database(request.getfixturevalue("server_database_url"))
    s = await EventStore.connect(url)
    try:
        yield s
    finally:
        await s.close()


def events(n: int, kind: str = "ThingHappened") -> list[NewEvent]:
    return [NewEvent(kind, {"i": i}) for i in range(n)]


async def stored(store: Store) -> list[tuple[str, int]]:
    """Every stored event as (stream, position): what a failed append must leave untouched."""
    return [(e.stream_name, e.stream_position) for e in await store.read_all(limit=100_000)]


# -- expected version -----------------------------------------------------------------------------------------


async def test_any_appends_to_a_new_and_an_existing_stream(store: Store) -> None:
    assert (await store.append("thing-1", events(2), Expected.ANY)).version == 1
    assert (await store.append("thing-1", events(1), Expected.ANY)).version == 2


async def test_no_stream_succeeds_once_then_conflicts(store: Store) -> None:
    assert (await store.append("thing-1", events(2), Expected.NO_STREAM)).version == 1
    before = await stored(store)
    with pytest.raises(WrongExpectedVersion) as e:
        await store.append("thing-1", events(1), Expected.NO_STREAM)
    assert e.value.extra["stream"] == "thing-1"
    assert await stored(store) == before


async def test_stream_exists_conflicts_on_a_new_stream_then_succeeds(store: Store) -> None:
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-1", events(1), Expected.STREAM_EXISTS)
    assert await stored(store) == []
    assert await store.stream_version("thing-1") == -1
    await store.append("thing-1", events(1))
    assert (await store.append("thing-1", events(1), Expected.STREAM_EXISTS)).version == 1


async def test_exact_version_succeeds_only_at_that_version(store: Store) -> None:
    await store.append("thing-1", events(3))
    before = await stored(store)
    for wrong in (0, 1, 3, 7):
        with pytest.raises(WrongExpectedVersion):
            await store.append("thing-1", events(1), wrong)
    assert await stored(store) == before
    with pytest.raises(WrongExpectedVersion):
        await store.append("thing-2", events(1), 0)  # exact 0 on a stream that does not exist
    assert (await store.append("thing-1", events(2), 2)).version == 4
    assert [e.stream_position for e in await store.read_stream("thing-1")] == [0, 1, 2, 3, 4]


# -- idempotency ----------------------------------------------------------------------------------------------


async def test_a_retry_returns_the_original_positions(store: Store) -> None:
    batch = events(3)
    first = await store.append("thing-1", batch, Expected.NO_STREAM)
    await store.append("thing-1", events(1))  # the stream moved on since
    before = await stored(store)
    again = await store.append("thing-1", batch, Expected.NO_STREAM)  # would conflict if not recognised
    assert again == first
    assert await stored(store) == before


async def test_a_partial_duplicate_conflicts_and_stores_nothing(store: Store) -> None:
    batch = events(2)
    await store.append("thing-1", batch)
    before = await stored(store)
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-1", [*batch, *events(1)])
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-1", [*events(1), batch[1]])
    assert await stored(store) == before


async def test_the_same_ids_on_another_stream_conflict(store: Store) -> None:
    batch = events(2)
    await store.append("thing-1", batch)
    before = await stored(store)
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-2", batch)
    with pytest.raises(IdempotencyConflict):
        await store.append("thing-2", batch[:1])
    assert await stored(store) == before
    assert await store.stream_version("thing-2") == -1


async def test_concurrent_retries_of_one_append_store_it_once(store: Store) -> None:
    batch = [NewEvent("ThingHappened", {"i": i}, event_id=uuid.uuid4()) for i in range(3)]
    results = await asyncio.gather(*(store.append("thing-1", batch) for _ in range(4)))
    assert len(set(results)) == 1
    assert len(await stored(store)) == 3


async def test_concurrent_writers_of_one_stream_get_gapless_positions(store: Store) -> None:
    results = await asyncio.gather(*(store.append("thing-1", events(1 + i % 3)) for i in range(40)))
    total = sum(1 + i % 3 for i in range(40))
    assert sorted(r.version for r in results)[-1] == total - 1
    assert [e.stream_position for e in await store.read_stream("thing-1")] == list(range(total))
    assert await store.stream_version("thing-1") == total - 1


# -- several streams at once ----------------------------------------------------------------------------------


async def test_append_many_is_all_or_nothing(store: Store) -> None:
    await store.append("other-1", events(1))
    before = await stored(store)
    with pytest.raises(WrongExpectedVersion) as e:
        await store.append_many([AppendRequest("thing-1", events(2), Expected.NO_STREAM),
                                 AppendRequest("other-1", events(1), Expected.NO_STREAM)])
    assert e.value.extra["stream"] == "other-1"
    assert await stored(store) == before
    results = await store.append_many([AppendRequest("thing-1", events(2), Expected.NO_STREAM),
                                       AppendRequest("other-1", events(1), 0)])
    assert [(r.stream, r.version) for r in results] == [("thing-1", 1), ("other-1", 1)]


async def test_append_many_rolls_back_on_an_idempotency_conflict(store: Store) -> None:
    taken = events(1)
    await store.append("other-1", taken)
    before = await stored(store)
    with pytest.raises(IdempotencyConflict):
        await store.append_many([AppendRequest("thing-1", events(1)), AppendRequest("thing-2", taken)])
    assert await stored(store) == before


async def test_a_retried_append_many_returns_its_first_results(store: Store) -> None:
    requests = [AppendRequest("thing-1", events(2), Expected.NO_STREAM), AppendRequest("other-1", events(1))]
    first = await store.append_many(requests)
    assert await store.append_many(requests) == first
    assert len(await stored(store)) == 3


async def test_bad_input_is_refused_before_storing(store: Store) -> None:
    for stream, evs, expected in (("nocategory", events(1), Expected.ANY), ("thing-1", [], Expected.ANY),
                                  ("thing-1", events(1), -5)):
        with pytest.raises(ValueError):
            await store.append(stream, evs, expected)
    assert await stored(store) == []



async def test_data_over_the_limit_is_refused_and_stores_nothing(store: Store) -> None:
    """Large data goes to a blob store, never into an event: one event, several, or one stream of several."""
    big = NewEvent("ThingHappened", {"blob": "x" * (MAX_DATA + 1)})
    for attempt in (store.append("thing-1", [big]), store.append("thing-1", [*events(1), big], Expected.NO_STREAM),
                    store.append_many([AppendRequest("thing-1", events(1)), AppendRequest("thing-2", [big])])):
        with pytest.raises(EventTooLarge) as e:
            await attempt
        assert isinstance(e.value, ValueError) and f"at most {MAX_DATA} bytes" in str(e.value)
    assert await stored(store) == []
    await store.append("thing-1", [NewEvent("ThingHappened", {"blob": "x" * (MAX_DATA - 1000)})])
    assert await stored(store) == [("thing-1", 0)]

# -- reads ----------------------------------------------------------------------------------------------------


async def test_reads_give_back_what_was_appended_in_commit_order(store: Store) -> None:
    data = {"name": "Ünïcode ✓", "nested": {"list": [1, 2.5, None, True]}}
    await store.append("thing-1", [NewEvent("A", data, {"actor": "user-7"}, schema_version=2)])
    await store.append_many([AppendRequest("other-1", events(2)), AppendRequest("thing-1", events(1))])
    everything = await store.read_all()
    assert [(e.stream_name, e.stream_position) for e in everything] == [
        ("thing-1", 0), ("other-1", 0), ("other-1", 1), ("thing-1", 1)]
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    first = everything[0]
    assert (first.event_type, first.schema_version, first.data, first.metadata) == ("A", 2, data, {"actor": "user-7"})
    assert [e.stream_position for e in await store.read_all(everything[1].position)] == [1, 1]
    assert [e.category for e in await store.read_all(categories=["other"])] == ["other", "other"]
    assert len(await store.read_all(limit=2)) == 2
    assert [e.stream_position for e in await store.read_stream("thing-1", from_position=1)] == [1]
    assert await store.head() == everything[-1].position
    assert await store.stream_version("thing-1") == 1


async def test_an_empty_store_reads_nothing(store: Store) -> None:
    assert await store.read_all() == []
    assert await store.read_stream("thing-1") == []
    assert await store.head() == START
    assert await store.stream_version("thing-1") == -1


async def test_next_id_hands_out_distinct_ids_from_1000_up(store: Store) -> None:
    ids = [await store.next_id() for _ in range(5)]
    assert len(set(ids)) == 5 and min(ids) >= 1000 and ids == sorted(ids)


# -- name reservations ----------------------------------------------------------------------------------------


async def take(store: Store, key: str, owner: str) -> None:
    req = await reserve(store, "username", key, owner, NOW, f"name {key}")
    if req is not None:
        await store.append_many([req])


async def test_a_name_is_taken_once_whatever_its_case(store: Store) -> None:
    await take(store, "Straße", "user-1")
    for same in ("STRASSE", "strasse", "straße"):
        with pytest.raises(NameTaken) as e:
            await take(store, same, "user-2")
        assert e.value.owner == "user-1"
        assert await reserve(store, "username", same, "user-1", NOW, "again") is None  # held already: nothing to do
    assert [e.stream_name for e in await store.read_all()] == ["username-strasse"]


async def test_only_the_holder_releases_a_name_and_then_anyone_may_take_it(store: Store) -> None:
    await take(store, "Alice", "user-1")
    before = await stored(store)
    with pytest.raises(NameNotHeld):
        await store.append_many([AppendRequest("thing-1", events(1)), release("username", "alice", "user-2", NOW)])
    assert await stored(store) == before  # the owner's events went with the refused release
    await store.append_many([release("username", "ALICE", "user-1", NOW)])
    with pytest.raises(NameNotHeld):  # released: nobody holds it, so nobody can release it again
        await store.append_many([release("username", "alice", "user-1", NOW)])
    await take(store, "alice", "user-2")
    assert [e.event_type for e in await store.read_stream("username-alice")] == [
        "NameReserved", "NameReleased", "NameReserved"]


async def test_a_release_is_vetted_against_the_events_before_it_in_the_same_append(store: Store) -> None:
    def name(kind: str, owner: str) -> NewEvent:
        return NewEvent(kind, {"owner": owner, "at": NOW.isoformat()})

    result = await store.append("username-bob", [name("NameReserved", "user-1"), name("NameReleased", "user-1")],
                                Expected.NO_STREAM)
    assert result.version == 1
    before = await stored(store)
    with pytest.raises(NameNotHeld):
        await store.append("username-carl", [name("NameReserved", "user-1"), name("NameReleased", "user-2")],
                           Expected.NO_STREAM)
    assert await stored(store) == before


async def test_a_retried_release_returns_its_first_result(store: Store) -> None:
    await take(store, "dave", "user-1")
    request = release("username", "dave", "user-1", NOW)
    first = await store.append_many([request])
    assert await store.append_many([request]) == first  # not "nobody holds it": the same release, stored once
    assert [e.event_type for e in await store.read_stream("username-dave")] == ["NameReserved", "NameReleased"]
