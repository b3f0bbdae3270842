"""The deployments projection (one row per run of a studio, Civis's deployments) over a real store: each run's
status, message and recorded usage; a blue/green rebuild gives the same rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import studio as ev
from libs.contracts.studio import ResourceUsage, StopReason, StudioConfiguration, StudioTemplate
from libs.eventstore import EventStore
from libs.eventstore.execute import to_new_events
from services.gateway.read import deployments as queries
from services.gateway.read.projections.base import subscription
from services.gateway.read.projections.deployments import DEPLOYMENTS
from services.gateway.read.projections.rebuild import rebuild
from services.gateway.read.schema import GATEWAY

SID = "1a2b3c4d"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ECHO = StudioTemplate(repository="studios/http-echo:1", tool="http-echo")


@pytest.fixture
async def gateway_store(database_url: str) -> AsyncIterator[EventStore]:
    s = await EventStore.connect(database_url, sources=[GATEWAY])
    try:
        yield s
    finally:
        await s.close()


def _at(minutes: int) -> dict[str, object]:
    return {"session_id": SID, "at": T0 + timedelta(minutes=minutes), "actor": "7"}


def _start(run: int, minutes: int) -> ev.StudioStartRequested:
    return ev.StudioStartRequested(**_at(minutes), run=run, compute_env_id="local", template=ECHO,  # type: ignore[arg-type]
                                   configuration=StudioConfiguration(cpu=2, memory=512), effective_lifespan_hours=0,
                                   progress_steps=("Provisioning compute resources",))


async def _project(store: EventStore) -> None:
    sub = subscription(store, DEPLOYMENTS, 1)
    while await sub.run_once():
        pass


async def test_each_run_is_a_row_with_its_status_message_and_recorded_usage(gateway_store: EventStore) -> None:
    usage = ResourceUsage(peak_memory_mb=300, avg_cpu_millicores=150, peak_cpu_millicores=900)
    events = [
        ev.StudioCreated(**_at(0), workspace_id="1", user_id="7", name="runs", compute_env_id="local",  # type: ignore[arg-type]
                         template=ECHO, configuration=StudioConfiguration(), effective_lifespan_hours=0),
        _start(1, 1),
        ev.StudioBuildStarted(**_at(2), run=1, build_id="b1"),  # type: ignore[arg-type]
        ev.StudioBuildSucceeded(**_at(3), run=1, build_id="b1"),  # type: ignore[arg-type]
        ev.StudioSessionRunning(**_at(4), run=1, handle={"host": "127.0.0.1", "port": 1}, url="u"),  # type: ignore[arg-type]
        ev.StudioStopRequested(**_at(5), run=1, stop_reason=StopReason.USER_REQUEST),  # type: ignore[arg-type]
        ev.StudioSessionStopped(**_at(6), run=1, stop_reason=StopReason.USER_REQUEST, usage=usage),  # type: ignore[arg-type]
        _start(2, 7),
        ev.StudioStartFailed(**_at(8), run=2, message="port never opened"),  # type: ignore[arg-type]
    ]
    await gateway_store.append(ev.stream_name(SID), to_new_events(events))
    await _project(gateway_store)
    pool = gateway_store.pool
    first, second = await queries.one(pool, SID, 1), await queries.one(pool, SID, 2)
    assert first is not None and second is not None
    assert (first["status"], first["user_id"], first["template"], first["cpu"], first["memory"]) == \
        ("stopped", "7", "studios/http-echo:1", 2, 512)
    assert (first["max_memory_mb"], first["max_cpu_millicores"]) == (300.0, 900.0)
    assert (first["created_at"], first["updated_at"]) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=6))
    assert (second["status"], second["message"], second["max_memory_mb"]) == ("errored", "port never opened", None)
    assert [r["run"] for r in await queries.page(pool, SID, 10, 0)] == [2, 1]
    assert [r["run"] for r in await queries.page(pool, SID, 1, 1, "asc")] == [2]
    assert (await queries.latest(pool, [SID]))[SID]["run"] == 2

    before = await pool.fetch("SELECT * FROM read.deployments ORDER BY run")
    st = await rebuild(gateway_store, "deployments")
    assert (st.version, st.lag) == (2, 0)
    assert await pool.fetch("SELECT * FROM read.deployments ORDER BY run") == before
