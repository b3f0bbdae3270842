"""Subscriptions that meet failing events: back-off before parking, streams held behind a parked event, retries by
the consumer itself, and batches bounded in time and in savepoints."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from libs.eventstore import EventStore, NewEvent, RecordedEvent, Subscription, checkpoints, parked
from libs.platform.metrics import parked_events, registry
from tests.integration.test_subscription import counts, fill, rebuilt
from tests.integration.workers.projector import count_into, create_table


class FakeClock:
    """Time that moves only when the subscription sleeps (or a handler says so): no test waits on the wall clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def _poisoned_store(store: EventStore) -> NewEvent:
    await create_table(store.pool)
    await fill(store, 12, 3, random.Random(1))
    poison = NewEvent("PoisonPill", {})
    await store.append("thing-9", [NewEvent("ThingHappened", {"before": True})])
    await store.append("thing-9", [poison])
    await store.append("thing-9", [NewEvent("ThingHappened", {"after": i}) for i in range(3)])
    await fill(store, 12, 3, random.Random(2))
    return poison


def _subscription(store: EventStore, name: str, clock: FakeClock, cured: list[bool]) -> Subscription:
    count = count_into()

    async def handler(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        if event.event_type == "PoisonPill" and not cured:
            raise RuntimeError("cannot digest")
        await count(conn, event)

    return Subscription(store, name, handler, batch_size=5, max_attempts=4, backoff_min=0.05, service="test",
                        clock=clock, sleep=clock.sleep)


def _gauge(name: str) -> float | None:
    return registry().get_sample_value("studios_parked_events", {"service": "test", "consumer": name})


async def test_a_failing_event_backs_off_then_is_parked_and_holds_its_stream(store: EventStore) -> None:
    poison = await _poisoned_store(store)
    clock, cured = FakeClock(), []
    sub = _subscription(store, "held", clock, cured)
    while await sub.run_once():  # up to the poison pill: it fails, and the checkpoint waits before it
        pass
    assert sub.retry_in() == 0.05
    async with store.pool.acquire() as conn:
        cp = await checkpoints.load(conn, "held")
    assert cp.error is not None and cp.error.startswith("retrying PoisonPill thing-9@"), cp.error
    assert await store.pool.fetchval("SELECT count(*) FROM es.parked") == 0

    await sub.catch_up()
    assert clock.sleeps == [0.05, 0.1, 0.2]  # doubling back-off between the 4 tries, then parked
    rows = await parked.list_parked(store.pool, "held")
    assert rows[0].event_id == poison.event_id and rows[0].attempts == 4 and not rows[0].held
    assert "RuntimeError: cannot digest" in rows[0].error
    assert [r.held for r in rows] == [False, True, True, True]  # the 3 after it in its stream: never tried
    assert [r.stream_position for r in rows] == sorted(r.stream_position for r in rows)
    expected = await rebuilt(store)
    position = rows[0].stream_position
    assert position is not None
    assert position == 1
    expected["thing-9"] = 1  # thing-9 stops right before the parked event; every other stream is whole
    assert await counts(store) == expected
    assert await sub.position() == await store.head()
    async with store.pool.acquire() as conn:
        cp = await checkpoints.load(conn, "held")
    assert cp.error == f"4 event(s) parked; stopped streams: thing-9@{position} (studios parked list)"
    assert _gauge("held") == 4

    # a later event of the stopped stream is held as well, never applied over the hole
    await store.append("thing-9", [NewEvent("ThingHappened", {"late": True})])
    await sub.catch_up()
    assert await parked.count(store.pool, "held") == 5
    assert (await counts(store))["thing-9"] == 1

    # a new process counts what earlier ones parked from its first poll
    parked_events("test")(consumer="held").set(0)  # the gauge is per process: as a restart would find it
    assert await _subscription(store, "held", FakeClock(), []).run_once() == 0
    assert _gauge("held") == 5


async def test_a_retry_is_done_by_the_consumer_in_stream_order(store: EventStore) -> None:
    poison = await _poisoned_store(store)
    clock, cured = FakeClock(), []
    sub = _subscription(store, "retried", clock, cured)
    await sub.catch_up()
    assert await parked.count(store.pool, "retried") == 4

    # asked to retry while it still fails: one more try, the stream stays stopped, nothing half-applied
    assert await parked.request_retry(store.pool, event_id=poison.event_id) == 4
    await sub.run_once()
    [first, *held] = await parked.list_parked(store.pool, "retried")
    assert first.attempts == 5 and first.retry_requested_at is None and len(held) == 3
    assert all(r.retry_requested_at is None for r in held)

    cured.append(True)
    assert await parked.request_retry(store.pool, consumer="retried") == 4
    await sub.run_once()
    assert await parked.list_parked(store.pool) == []
    assert await counts(store) == await rebuilt(store)
    async with store.pool.acquire() as conn:
        assert (await checkpoints.load(conn, "retried")).error is None
    assert _gauge("retried") == 0


async def test_a_discarded_event_leaves_its_stream_stopped(store: EventStore) -> None:
    poison = await _poisoned_store(store)
    sub = _subscription(store, "discarded", FakeClock(), [])
    await sub.catch_up()
    assert await parked.discard(store.pool, poison.event_id, "discarded") == 1
    await store.append("thing-9", [NewEvent("ThingHappened", {"late": True})])
    await sub.catch_up()
    rows = await parked.list_parked(store.pool, "discarded")
    assert len(rows) == 4 and all(r.held for r in rows)  # still behind the hole


async def test_a_batch_is_bounded_in_time(store: EventStore) -> None:
    await create_table(store.pool)
    await fill(store, 20, 2, random.Random(3))
    clock = FakeClock()
    count = count_into()

    async def slow(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        await count(conn, event)
        clock.now += 0.2  # each event "takes" 0.2 s

    sub = Subscription(store, "timed", slow, batch_size=500, batch_seconds=0.5, clock=clock)
    assert await sub.run_once() == 3  # 0.2, 0.4, 0.6: the third passes the bound and the batch commits
    third = (await store.read_all(limit=3))[-1]
    assert await sub.position() == third.position
    assert await sub.catch_up() == 17


async def test_a_batch_stays_under_the_subtransaction_cache(store: EventStore) -> None:
    """500 writing events in one batch: no savepoint each (PostgreSQL keeps 64 subtransactions per backend)."""
    await create_table(store.pool)
    await fill(store, 500, 50, random.Random(4))
    count = count_into()
    seen: list[tuple[int, bool]] = []

    async def probe(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        await count(conn, event)
        if len(seen) == 0 and await conn.fetchval("SELECT sum(n) FROM read.counts") == 500:
            row = await conn.fetchrow(
                """SELECT s.subxact_count, s.subxact_overflowed
                     FROM pg_stat_get_backend_idset() AS b(id), pg_stat_get_backend_subxact(b.id) AS s
                    WHERE pg_stat_get_backend_pid(b.id) = pg_backend_pid()""")
            assert row is not None
            seen.append((row[0], row[1]))

    sub = Subscription(store, "savepoints", probe, batch_size=500, batch_seconds=60)
    assert await sub.run_once() == 500
    [(subxacts, overflowed)] = seen
    assert subxacts < 64 and not overflowed


async def test_a_back_off_ends_when_another_instance_takes_the_event_past(store: EventStore) -> None:
    """Instance A fails on the pill and backs off; B (cured) applies it meanwhile: A must not wait on it forever."""
    await _poisoned_store(store)
    clock = FakeClock()
    a, b = _subscription(store, "shared", clock, []), _subscription(store, "shared", clock, [True])
    while await a.run_once():
        pass
    assert a.retry_in() is not None
    assert await b.catch_up() > 0
    assert await asyncio.wait_for(a.catch_up(), 30) == 0
    assert a.retry_in() is None
    assert await parked.count(store.pool, "shared") == 0
    assert await counts(store) == await rebuilt(store)
