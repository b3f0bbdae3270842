"""A newcomer's first session, over REST against `studios up`: create, watch it start, use it, stop, delete."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio

WS = {"workspaceId": 1}


def test_create_start_connect_stop_delete(system: System) -> None:
    with system.client() as c:
        r = c.post("/studios", params=WS, json={"name": "first-echo", "computeEnvId": "local",
                                                "dataStudioToolUrl": "studios/http-echo:1"})
        assert r.status_code == 200, r.text
        studio = r.json()["studio"]
        sid = studio["sessionId"]
        assert studio["statusInfo"]["status"] in ("starting", "running")
        assert [p["message"] for p in studio["progress"]][:2] == ["Provisioning compute resources",
                                                                  "Mounting data links"]
        dto = wait_studio(c, sid, status_is("running"))
        assert all(p["status"] == "succeeded" for p in dto["progress"])
        assert dto["studioUrl"].endswith(f"/connect/{sid}/")

        r = c.get(f"/connect/{sid}/hello", params={"q": "1"})
        assert r.status_code == 200, r.text
        echoed = r.json()
        assert echoed["path"].startswith(f"/connect/{sid}/hello")
        assert "authorization" not in {k.lower() for k in echoed["headers"]} or \
            system.token not in json.dumps(echoed["headers"])

        async def ws_echo() -> str:
            url = system.url.replace("http", "ws") + f"/connect/{sid}/ws"
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {system.token}"}) as ws:
                await ws.send("ping")
                return str(await ws.recv())

        assert asyncio.run(ws_echo()) == "ping"

        r = c.put(f"/studios/{sid}/stop", params=WS)
        assert r.status_code == 200, r.text
        dto = wait_studio(c, sid, status_is("stopped"))
        # Seqera's enum has no "the user asked": stopReason is left out, our own reason is in stopReasonDetail
        assert "stopReason" not in dto["statusInfo"]
        assert dto["statusInfo"]["stopReasonDetail"] == "USER_REQUEST"
        assert c.get(f"/connect/{sid}/hello").status_code == 409

        history = c.get(f"/studios/{sid}/history", params=WS).json()
        types = [e["eventType"] for e in history["events"]]
        assert types[0] == "StudioCreated" and "StudioSessionRunning" in types and "StudioSessionStopped" in types

        assert c.delete(f"/studios/{sid}", params=WS).status_code in (200, 204)
        assert c.get(f"/studios/{sid}", params=WS).status_code == 404


def test_duplicate_name_and_bad_input(system: System) -> None:
    with system.client() as c:
        body = {"name": "dup-name", "computeEnvId": "local", "dataStudioToolUrl": "studios/http-echo:1"}
        assert c.post("/studios", params={**WS, "autoStart": "false"}, json=body).status_code == 200
        assert c.post("/studios", params={**WS, "autoStart": "false"}, json=body).status_code == 409
        total = c.get("/studios", params=WS).json()["totalSize"]
        bad = [{**body, "name": "x" * 81}, {**body, "name": "neg-cpu", "configuration": {"cpu": -1}},
               {"computeEnvId": "local"}]
        for b in bad:
            r = c.post("/studios", params={**WS, "autoStart": "false"}, json=b)
            assert r.status_code == 400, r.text
            assert "message" in r.json()
        assert c.get("/studios", params=WS).json()["totalSize"] == total


def test_two_creates_racing_for_one_name(system: System) -> None:
    body = {"name": "raced-name", "computeEnvId": "local", "dataStudioToolUrl": "studios/http-echo:1"}

    async def race() -> list[int]:
        import httpx

        async with httpx.AsyncClient(base_url=system.url, timeout=30,
                                     headers={"Authorization": f"Bearer {system.token}"}) as c:
            replies = await asyncio.gather(*(c.post("/studios", params={**WS, "autoStart": "false"}, json=body)
                                             for _ in range(4)))
        return sorted(r.status_code for r in replies)

    assert asyncio.run(race()) == [200, 409, 409, 409]


def test_gateway_serves_the_event_catalogue_and_its_openapi(system: System) -> None:
    with system.client() as c:
        doc = c.get("/asyncapi.json").json()
        assert "StudioSessionRunning" in json.dumps(doc) and "studios.events.studio.StudioCreated" in json.dumps(doc)
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/studios", "/studios/{session_id}/start", "/user-info", "/compute-envs"} <= set(paths)
        assert c.get("/metrics").status_code == 200
