"""Lifecycle's producers end to end: a follower connected before a session starts sees every line of it (the
system lines of its start, the tool's own output) in order, and its stream ends when the session stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.contracts.logs import QueryLogs
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio_commands import StartStudio, StopStudio
from libs.testing.waiting import wait_for
from services.gateway.logs import LogsClient
from services.lifecycle.sessions.logs import LIVE
from tests.integration.bus_helpers import nc_fixture  # noqa: F401
from tests.integration.lifecycle_harness import create, running_lifecycle
from tests.integration.logs_helpers import running_logs

CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom")
TOOL = ("sh", "-c", 'for i in $(seq 1 200); do echo "tool line $i"; done; echo "to stderr" >&2; '
                    'echo "after it"; echo "stderr again" >&2; '
                    'exec python3 -m http.server "$CONNECT_TOOL_PORT" 2>/dev/null')  # its request log: not ours


async def test_a_follower_before_the_start_sees_the_whole_session_and_ends_when_it_stops(
        database_url: str, nats_url: str, nc: NATS, tmp_path: Path) -> None:
    topology = Topology.unique("lg")
    await ensure_streams(nc.jetstream(), topology)
    try:
        async with running_logs(database_url, nats_url, topology), \
                running_lifecycle(database_url, nats_url, tmp_path, topology=topology) as lc:
            cmd = create("logged", auto_start=False, template=CUSTOM, configuration=StudioConfiguration(command=TOOL))
            await lc.send(cmd)
            sid = cmd.session_id

            async def run_over(run: int) -> bool:
                s = await lc.state(sid)
                return s.run > run or (s.run == run and s.status not in LIVE)

            client = LogsClient(nc, topology)
            consumers = (await nc.jetstream().stream_info(topology.logs_stream)).state.consumer_count

            async def follow() -> list[dict[str, Any]]:
                return [x async for x in client.follow(QueryLogs(id=sid), 1, run_over)]

            follower = asyncio.create_task(follow())
            await wait_for(lambda: nc.jetstream().stream_info(topology.logs_stream),
                           until=lambda i: i.state.consumer_count > consumers, what="the follower tailing")
            await lc.send(StartStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
            await lc.wait_status(sid, StudioStatus.RUNNING)
            await wait_for(lambda: _stored(client, sid), until=lambda n: n >= 203, what="the tool's lines stored")
            await lc.send(StopStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
            await lc.wait_status(sid, StudioStatus.STOPPED)
            lines = await asyncio.wait_for(follower, 60)
            stored = await wait_for(lambda: _all(client, sid), until=lambda got: len(got) >= len(lines),
                                    what="every followed line stored")
            errors = await client.query(QueryLogs(id=sid, source="user", stream="stderr"))
    finally:
        await delete_streams(nc.jetstream(), topology)
    tool = [x["message"] for x in lines if x["source"] == "user" and x["message"].startswith("tool line")]
    assert tool == [f"tool line {i}" for i in range(1, 201)]
    assert "to stderr" in [x["message"] for x in lines]
    # stdout and stderr kept apart: stream=stderr is the tool's stderr alone, and each line keeps its tag
    assert [x["message"] for x in errors["lines"]] == ["to stderr", "stderr again"]
    assert {x["stream"] for x in lines if x["message"] in ("after it", "tool line 1")} == {"stdout"}
    system = [x["message"] for x in lines if x["source"] == "system"]
    assert system[0] == "Starting run 1" and "Session running" in system
    assert system.index("Session running") < len(system) - 1 and system[-1].startswith("Stop requested")
    assert lines[-1].get("final") and lines[-1]["message"].startswith("Session stopped")
    assert [x["id"] for x in stored] == [x["id"] for x in sorted(lines, key=_order)]


def _order(line: dict[str, Any]) -> tuple[str, str, int]:
    micros, source, seq = line["id"].split("-")
    return (micros.zfill(20), source, int(seq))


async def _all(client: LogsClient, sid: str) -> list[dict[str, Any]]:
    return list((await client.query(QueryLogs(id=sid))).get("lines", []))


async def _stored(client: LogsClient, sid: str) -> int:
    result = await client.query(QueryLogs(id=sid, source="user"))
    return len(result.get("lines", []))
