"""``GET /studios/{sessionId}/logs``: the Civis shape, paging and filters, follows over SSE and WebSocket, and
refusals that change nothing. The Studios API in process (``api`` fixture) with the logs service beside it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from websockets.asyncio.client import connect

from libs.bus.streams import Topology
from libs.logs import LogPublisher, RunLog
from libs.testing.waiting import wait_for
from tests.integration.bus_helpers import nc_fixture, topology_fixture  # noqa: F401
from tests.integration.logs_helpers import logs_api_fixture, stored_lines, studio  # noqa: F401
from tests.integration.proxy_helpers import serve
from tests.integration.studios_api_helpers import Api


async def test_lines_in_the_civis_shape_with_paging_and_filters(logs_api: tuple[Api, LogPublisher]) -> None:
    api, pub = logs_api
    sid = await studio(api, "alice", "logs-shape")
    RunLog(pub, "session", sid, 1, first_seq=0).write("first run")
    out = RunLog(pub, "session", sid, 2, first_seq=0)
    for i in range(10):
        out.write(f"line {i}", "stderr" if i % 2 else "stdout")
    RunLog.system(pub, "session", sid, 2).write("provisioned")
    lines = await stored_lines(api, sid, 11)
    assert set(lines[0]) == {"id", "message", "stream", "source", "createdAt"}
    assert [x["message"] for x in lines if x["source"] == "user"] == [f"line {i}" for i in range(10)]
    r = await api.client.get(f"/studios/{sid}/logs", params={"limit": 3, "source": "user"}, headers=api.auth("alice"))
    assert [x["message"] for x in r.json()] == ["line 7", "line 8", "line 9"] and r.headers["X-Logs-Run"] == "2"
    first = lines[0]["id"]
    r = await api.client.get(f"/studios/{sid}/logs", params={"after": first, "limit": 2}, headers=api.auth("alice"))
    assert [x["id"] for x in r.json()] == [x["id"] for x in lines[1:3]]
    r = await api.client.get(f"/studios/{sid}/logs", params={"stream": "stderr"}, headers=api.auth("alice"))
    assert [x["message"] for x in r.json()] == [f"line {i}" for i in range(1, 10, 2)]
    r = await api.client.get(f"/studios/{sid}/logs", params={"run": 1}, headers=api.auth("alice"))
    assert [x["message"] for x in r.json()] == ["first run"]


async def test_invalid_parameters_get_a_clear_4xx_and_change_nothing(logs_api: tuple[Api, LogPublisher],
                                                                    nc: NATS, topology: Topology) -> None:
    api, pub = logs_api
    sid = await studio(api, "alice", "logs-refusals")
    private = await studio(api, "bob", "logs-private", isPrivate=True)
    RunLog(pub, "session", private, 1, first_seq=0).write("bob's secret output")
    await stored_lines(api, private, 1)  # alice (workspace owner) sees it: it is stored
    events = await api.count_events()
    stream_before = (await nc.jetstream().stream_info(topology.logs_stream)).state.messages
    cases = [
        (sid, {"start_at": "2026-01-02T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, "alice", 400, "before"),
        (sid, {"limit": 0}, "alice", 400, "limit"),
        (sid, {"limit": 10_001}, "alice", 400, "limit"),
        (sid, {"after": "not-a-cursor"}, "alice", 400, "cursor"),
        ("nosuchsession", {}, "alice", 404, "not found"),
        (private, {}, "dave", 404, "not found"),
        (private, {"follow": "true"}, "dave", 404, "not found"),
    ]
    for session, params, user, status, says in cases:
        r = await api.client.get(f"/studios/{session}/logs", params=params, headers=api.auth(user))
        assert r.status_code == status, (params, r.text)
        assert says in r.json()["message"], r.text
    assert await api.count_events() == events
    assert (await nc.jetstream().stream_info(topology.logs_stream)).state.messages == stream_before


async def _follow_consumers(nc: NATS, topology: Topology) -> int:
    return int((await nc.jetstream().stream_info(topology.logs_stream)).state.consumer_count)


async def test_a_follower_connected_before_the_run_sees_every_line_and_ends_with_it(
        logs_api: tuple[Api, LogPublisher], nc: NATS, topology: Topology) -> None:
    api, pub = logs_api
    sid = await studio(api, "alice", "logs-follow")
    RunLog(pub, "session", sid, 0, first_seq=0).write("an older run: not this follow's")
    consumers = await _follow_consumers(nc, topology)
    app = api.client._transport.app  # type: ignore[attr-defined]
    async with serve(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as http:
        async def sse() -> list[tuple[str, str]]:
            events: list[tuple[str, str]] = []
            async with http.stream("GET", f"/studios/{sid}/logs", params={"follow": "true"},
                                   headers=api.auth("alice")) as r:
                assert r.status_code == 200 and r.headers["X-Logs-Run"] == "1"
                kind = ""
                async for raw in r.aiter_lines():
                    if raw.startswith("event: "):
                        kind = raw[7:]
                    elif raw.startswith("data: "):
                        events.append((kind, raw[6:]))
            return events

        async def ws() -> list[dict[str, Any]]:
            url = f"ws://{host}/studios/{sid}/logs?access_token=alice"
            async with connect(url) as sock:
                return [json.loads(m) async for m in sock]

        followers = asyncio.gather(sse(), ws())
        await wait_for(lambda: _follow_consumers(nc, topology), until=lambda n: n >= consumers + 2,
                       what="both followers tailing LOGS")
        run = RunLog(pub, "session", sid, 1, first_seq=0)
        system = RunLog.system(pub, "session", sid, 1)
        system.write("provisioning")
        for i in range(500):
            run.write(f"tool {i}")
        system.close(final=True, message="session stopped")
        by_sse, by_ws = await asyncio.wait_for(followers, 60)
    logged = [json.loads(d)["message"] for k, d in by_sse if k == "log"]
    assert logged[0] == "provisioning" or "provisioning" in logged
    assert [m for m in logged if m.startswith("tool")] == [f"tool {i}" for i in range(500)]
    assert logged[-1] == "session stopped" and by_sse[-1] == ("end", json.dumps({"run": 1}))
    assert [m["message"] for m in by_ws[:-1]] == logged and by_ws[-1] == {"end": True, "run": 1}


async def test_an_idle_follow_sends_keepalive_comments_then_its_lines(
        logs_api: tuple[Api, LogPublisher], nc: NATS, topology: Topology) -> None:
    api, pub = logs_api
    sid = await studio(api, "alice", "logs-idle")
    app = api.client._transport.app  # type: ignore[attr-defined]
    app.state.logs.keepalive = 0.1  # STUDIOS_LOGS_KEEPALIVE_SECONDS, made short
    async with serve(app) as host, httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as http:
        async with http.stream("GET", f"/studios/{sid}/logs", params={"follow": "true"},
                               headers=api.auth("alice")) as r:
            lines = r.aiter_lines()
            comments = 0
            while comments < 2:  # nothing published yet: only comments come
                raw = await anext(lines)
                assert raw == "" or raw == ": keepalive", raw
                comments += raw == ": keepalive"
            run = RunLog(pub, "session", sid, 1, first_seq=0)
            run.write("after a quiet while")
            run.close(final=True, message="stopped")
            events = [raw async for raw in lines if raw.startswith("data: ")]
    assert [json.loads(e[6:]).get("message") for e in events] == ["after a quiet while", "stopped", None]
