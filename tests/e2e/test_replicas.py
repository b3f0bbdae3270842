"""Two replicas of every service (issue 15, "Replicas"): ``studios up --replicas 2`` serves a start/stop run of
``REPLICAS_STUDIOS`` studios (200 by default) through both gateways over real HTTP, while replica 2 of every service
is SIGKILLed once a quarter of the studios run, and replica 1 of every service once a quarter of them have stopped.

Then: every studio ended ``stopped`` as asked (the API and the store agree); each studio stream holds exactly one
fact per command sent (created, start requested, running, stop requested, stopped), its positions gapless; no event
id twice in the store or in JetStream ``EVENTS``, and ``EVENTS`` holds every stored event; and each read model equals
a rebuild of it from position 0 (``studios projections rebuild``, blue/green: the version that served the run is
kept beside the rebuilt one, and the two row sets are compared).

Clients do what a client of a load balancer does: a request refused or cut off by a killed gateway is retried on the
other one with the same ``Idempotency-Key``. The tool is ``http-echo`` (it listens within milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import psutil
import pytest

from libs.contracts.studio import StudioStatus, stream_name
from libs.contracts.studio_state import INITIAL, evolve
from libs.eventstore import EventStore, Position, load
from libs.testing.waiting import wait_for
from services.gateway.read.projections import PROJECTIONS, Projection
from services.gateway.read.projections.base import active_version, lag
from tests.e2e.conftest import System
from tests.e2e.test_restarts import nats_url, stream_msg_ids

# 5.5 to 8.5 minutes for 200 studios on 2 loaded cores (REPLICAS_STUDIOS=20 for a quick run)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

WS = {"workspaceId": 1}
N = int(os.environ.get("REPLICAS_STUDIOS", "200"))
SERVICES = ("gateway", "lifecycle", "checkpoints", "builder", "logs")
ONE_EACH = ("StudioCreated", "StudioStartRequested", "StudioSessionRunning", "StudioStopRequested",
            "StudioSessionStopped")


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    # reconcile every 2 s: a start a killed lifecycle left half done is resumed by the other one within that;
    # no interim checkpoints (5 min by default), so the store is still once every studio stopped
    return {"STUDIOS_CONNECT_MODE": "path", "STUDIOS_REPLICAS": "2", "STUDIOS_RECONCILE_INTERVAL_SECONDS": "2",
            "STUDIOS_CHECKPOINT_INTERVAL_MINUTES": "0"}


def replica_pids(system: System) -> dict[str, int]:
    """Each live replica of the supervisor's, by instance id (``gateway-1``...)."""
    found: dict[str, int] = {}
    for child in psutil.Process(system.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            instance = child.environ().get("STUDIOS_INSTANCE")
            if instance and child.status() != psutil.STATUS_ZOMBIE:
                found[instance] = child.pid
    return found


class Clients:
    """One HTTP client per gateway replica; a request goes to the next one, and to the other on failure."""

    def __init__(self, system: System) -> None:
        base = system.url.rsplit(":", 1)
        headers = {"Authorization": f"Bearer {system.token}"}
        self.urls = [system.url, f"{base[0]}:{int(base[1]) + 1}"]
        self.clients = [httpx.AsyncClient(base_url=u, headers=headers, timeout=60) for u in self.urls]
        self._next = itertools.cycle(range(len(self.clients)))
        self.retries = 0

    async def send(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        first = next(self._next)
        last: Exception | httpx.Response | None = None
        for attempt in range(60):
            client = self.clients[(first + attempt) % len(self.clients)]
            try:
                r = await client.request(method, path, headers=headers, **kwargs)
                if r.status_code not in (502, 503, 504):
                    return r
                last = r
            except httpx.TransportError as e:
                last = e
            self.retries += 1
            await asyncio.sleep(0.2)
        raise AssertionError(f"{method} {path}: no gateway answered ({last!r})")

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()


async def count_streams_with(store: EventStore, event_type: str) -> int:
    return int(await store.pool.fetchval(
        "SELECT count(DISTINCT stream_name) FROM es.events WHERE category = 'studio' AND event_type = $1",
        event_type))


async def kill_replica(system: System, n: int) -> list[str]:
    """SIGKILL replica ``n`` of every service (the supervisor starts each again); the instances killed."""
    pids = replica_pids(system)
    killed = []
    for service in SERVICES:
        pid = pids.get(f"{service}-{n}")
        assert pid is not None, f"{service}-{n} is not running: {pids}"
        os.kill(pid, signal.SIGKILL)
        killed.append(f"{service}-{n}")
    return killed


async def when(store: EventStore, event_type: str, count: int, within: float = 900) -> None:
    await wait_for(lambda: count_streams_with(store, event_type), until=lambda c: c >= count, within=within,
                   every=0.2, what=f"{count} studios with {event_type}")


async def run_them(system: System, store: EventStore, clients: Clients) -> list[str]:
    """Create (and so start) every studio, then stop every one, killing a replica of each service in each half."""
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> str:
        async with sem:
            r = await clients.send("POST", "/studios", key=str(uuid.uuid4()), params=WS,
                                   json={"name": f"replica-{i}", "computeEnvId": "local",
                                         "dataStudioToolUrl": "studios/http-echo:1"})
            assert r.status_code == 200, r.text
            return str(r.json()["studio"]["sessionId"])

    async def stop(sid: str) -> None:
        async with sem:
            r = await clients.send("PUT", f"/studios/{sid}/stop", key=str(uuid.uuid4()), params=WS)
            assert r.status_code == 200, r.text

    async def kill_when(event_type: str, n: int) -> None:
        await when(store, event_type, N // 4)
        await kill_replica(system, n)

    began = time.monotonic()
    creating = asyncio.gather(*(create(i) for i in range(N)))
    ids, _ = await asyncio.gather(creating, kill_when("StudioSessionRunning", 2))
    await when(store, "StudioSessionRunning", N)
    started = time.monotonic()
    await asyncio.gather(asyncio.gather(*(stop(sid) for sid in ids)), kill_when("StudioSessionStopped", 1))
    await when(store, "StudioSessionStopped", N)
    # figures for the record (never asserted): how long the run took on this machine
    print(f"\n{N} studios running after {started - began:.1f} s, all stopped {time.monotonic() - started:.1f} s later")
    return list(ids)


def rebuild(system: System, name: str) -> None:
    env = {**os.environ, "DATABASE_URL": system.database_url, "STUDIOS_DATA_DIR": str(system.data_dir)}
    done = subprocess.run([sys.executable, "-m", "libs.platform.cli", "projections", "rebuild", name], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


async def differences(store: EventStore, table: str, old: int, new: int) -> tuple[int, int, int]:
    """(rows in the serving version, rows only there, rows only in the rebuild)."""
    a, b = f"read.{table}_v{old}", f"read.{table}_v{new}"
    total = await store.pool.fetchval(f"SELECT count(*) FROM {a}")
    only_old = await store.pool.fetchval(f"SELECT count(*) FROM (TABLE {a} EXCEPT ALL TABLE {b}) d")
    only_new = await store.pool.fetchval(f"SELECT count(*) FROM (TABLE {b} EXCEPT ALL TABLE {a}) d")
    return int(total), int(only_old), int(only_new)


async def scenario(system: System) -> None:
    store = await EventStore.connect(system.database_url)
    clients = Clients(system)
    try:
        await wait_for(lambda: set(replica_pids(system)) >= {f"{s}-{n}" for s in SERVICES for n in (1, 2)},
                       until=bool, within=60, every=0.2, what="both replicas of every service")
        for c in clients.clients:  # the second gateway answers too (the fixture waited on the first)
            await wait_for(functools.partial(_answers, c), until=bool, within=90, every=0.2,
                           what=f"{c.base_url} answers")
        ids = await run_them(system, store, clients)
        assert len(set(ids)) == N

        # Every studio ended as asked: stopped, in the API and in the store.
        for sid in ids:
            r = await clients.send("GET", f"/studios/{sid}", params=WS)
            assert r.json()["statusInfo"]["status"] == "stopped", (sid, r.json()["statusInfo"])
            state = (await load(store, stream_name(sid), evolve, INITIAL))[0]
            assert state.status is StudioStatus.STOPPED and state.run == 1, (sid, state.status)

        # One fact per command, gapless positions, no event id twice.
        rows = await store.pool.fetch(
            "SELECT stream_name, event_type, stream_position FROM es.events WHERE category = 'studio'")
        by_stream: dict[str, list[Any]] = {}
        for row in rows:
            by_stream.setdefault(row["stream_name"], []).append(row)
        for sid in ids:
            events = by_stream[stream_name(sid)]
            kinds = Counter(e["event_type"] for e in events)
            assert {k: kinds[k] for k in ONE_EACH} == dict.fromkeys(ONE_EACH, 1), (sid, kinds)
            positions = sorted(e["stream_position"] for e in events)
            assert positions == list(range(positions[0], positions[0] + len(positions))), (sid, positions)
        assert await store.pool.fetchval("SELECT count(*) = count(DISTINCT event_id) FROM es.events")

        # JetStream EVENTS: every stored event, once.
        stored = {str(r["id"]) for r in await store.pool.fetch("SELECT event_id::text AS id FROM es.events")}
        bus = nats_url(system)

        async def relayed() -> bool:
            return stored <= set(await stream_msg_ids(bus))

        await wait_for(relayed, until=bool, within=120, every=0.5, what="the relay published every stored event")
        in_stream = await stream_msg_ids(bus)
        assert len(in_stream) == len(set(in_stream)), "an event is in EVENTS twice"

        # Each read model equals its rebuild from position 0.
        head = await store.head()
        for name, projection in PROJECTIONS.items():
            await wait_for(functools.partial(_caught_up, store, projection), until=bool, within=120, every=0.2,
                           what=f"{name} caught up")
            async with store.pool.acquire() as conn:
                old = await active_version(conn, projection.name)
            await asyncio.to_thread(rebuild, system, name)
            for table in projection.tables:
                total, only_old, only_new = await differences(store, table, old, old + 1)
                assert (only_old, only_new) == (0, 0), (name, table, total, only_old, only_new)
        assert (await store.head()).global_position == head.global_position, "events were appended meanwhile"
        print(f"\n{N} studios started and stopped through 2 replicas; {clients.retries} requests retried")
    finally:
        await clients.close()
        await store.close()


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/user-info")).status_code == 200
    except httpx.TransportError:
        return False


async def _caught_up(store: EventStore, projection: Projection) -> bool:
    """Nothing of the projection's categories below the horizon is left for its serving version to apply."""
    async with store.pool.acquire() as conn:
        version = await active_version(conn, projection.name)
        at = await conn.fetchrow("SELECT tx_id, global_position FROM es.checkpoints WHERE name = $1",
                                 projection.checkpoint(version))
        if at is None:
            return False
        return await lag(conn, projection.categories, Position(at["tx_id"], at["global_position"])) == 0


def test_two_replicas_of_everything_with_one_of_each_killed_lose_and_duplicate_nothing(system: System) -> None:
    asyncio.run(scenario(system))
