"""The Seqera Studios API over HTTP: real store, real domain, the studios projection running in the background."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.integration.studios_api_helpers import CE, ORG, WS, Api


def body(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1", **extra}


async def create(api: Api, name: str, user: str = "alice", **extra: Any) -> dict[str, Any]:
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", json=body(name, **extra),
                              headers=api.auth(user))
    assert r.status_code == 200, r.text
    studio: dict[str, Any] = r.json()["studio"]
    return studio


async def test_create_then_get_reflects_at_once(api: Api) -> None:
    s = await create(api, "first", description="hello")
    assert s["statusInfo"]["status"] == "stopped" and s["template"]["tool"] == "http-echo"
    r = await api.client.get(f"/studios/{s['sessionId']}?workspaceId={WS}", headers=api.auth("alice"))
    assert r.status_code == 200
    got = r.json()
    assert got["name"] == "first" and got["description"] == "hello" and got["workspaceId"] == WS
    assert got["user"]["userName"] == "alice" and got["computeEnv"]["name"] == "local"
    assert got["studioUrl"] == f"http://gw.test/connect/{s['sessionId']}/"
    assert len(s["sessionId"]) == 8


async def test_list_search_and_pagination(api: Api) -> None:
    for name in ("alpha", "beta", "alpine"):
        await create(api, name)
    r = await api.client.get(f"/studios?workspaceId={WS}&max=2&offset=0", headers=api.auth("carol"))
    assert r.status_code == 200 and r.json()["totalSize"] == 3 and len(r.json()["studios"]) == 2
    r = await api.client.get(f"/studios?workspaceId={WS}&search=alp status:stopped", headers=api.auth("alice"))
    assert sorted(s["name"] for s in r.json()["studios"]) == ["alpha", "alpine"]
    r = await api.client.get(f"/studios?workspaceId={WS}&search=status:running", headers=api.auth("alice"))
    assert r.json() == {"studios": [], "totalSize": 0}
    r = await api.client.get(f"/studios?workspaceId={WS}&search=userId:1 computeEnvId:{CE}",
                             headers=api.auth("alice"))
    assert r.json()["totalSize"] == 3
    r = await api.client.get("/studios", headers=api.auth("bob"))  # user context: every workspace of mine
    assert r.json()["totalSize"] == 3


async def test_duplicate_name_is_409_and_concurrent_creates_one_wins(api: Api) -> None:
    await create(api, "twin")
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", json=body("twin"),
                              headers=api.auth("alice"))
    assert r.status_code == 409 and "twin" in r.json()["message"]
    results = await asyncio.gather(*(
        api.client.post(f"/studios?workspaceId={WS}&autostart=false", json=body("race"), headers=api.auth("bob"))
        for _ in range(2)))
    assert sorted(r.status_code for r in results) == [200, 409]


@pytest.mark.parametrize("bad", [
    body("x" * 81),
    body("ok", configuration={"cpu": -1}),
    body("ok", description="d" * 2049),
    body("has space"),
    {"name": "ok"},
    body("ok", dataStudioToolUrl="nope/unknown:1"),
])
async def test_bad_input_is_400_and_stores_nothing(api: Api, bad: dict[str, Any]) -> None:
    before = await api.count_events()
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", json=bad, headers=api.auth("alice"))
    assert r.status_code == 400, r.text
    assert "message" in r.json()
    assert await api.count_events() == before


async def test_unknown_compute_env_or_workspace_is_404(api: Api) -> None:
    r = await api.client.post(f"/studios?workspaceId={WS}", json=body("a", computeEnvId="nope"),
                              headers=api.auth("alice"))
    assert r.status_code == 404
    r = await api.client.post("/studios?workspaceId=999", json=body("a"), headers=api.auth("alice"))
    assert r.status_code == 404


async def test_private_studio_is_hidden_from_others(api: Api) -> None:
    s = await create(api, "secret", user="bob", isPrivate=True)
    sid = s["sessionId"]
    r = await api.client.get(f"/studios/{sid}", headers=api.auth("dave"))
    assert r.status_code == 404
    listed = (await api.client.get(f"/studios?workspaceId={WS}", headers=api.auth("dave"))).json()
    assert listed["totalSize"] == 0
    assert (await api.client.get(f"/studios/{sid}", headers=api.auth("bob"))).status_code == 200
    assert (await api.client.get(f"/studios/{sid}", headers=api.auth("alice"))).status_code == 200  # owner


async def test_view_only_participant_cannot_create_or_start(api: Api) -> None:
    r = await api.client.post(f"/studios?workspaceId={WS}", json=body("v"), headers=api.auth("carol"))
    assert r.status_code == 403
    s = await create(api, "shared")
    r = await api.client.put(f"/studios/{s['sessionId']}/start", json={}, headers=api.auth("carol"))
    assert r.status_code == 403


async def test_start_stop_update_delete(api: Api) -> None:
    sid = (await create(api, "cycle"))["sessionId"]
    r = await api.client.put(f"/studios/{sid}", json={"description": "new", "configuration": {"cpu": 4}},
                             headers=api.auth("bob"))
    assert r.status_code == 200 and r.json()["description"] == "new" and r.json()["configuration"]["cpu"] == 4
    r = await api.client.put(f"/studios/{sid}/start", headers=api.auth("bob"))
    assert r.status_code == 200 and r.json()["statusInfo"]["status"] == "starting" and r.json()["jobSubmitted"]
    r = await api.client.get(f"/studios/{sid}", headers=api.auth("bob"))
    assert [p["status"] for p in r.json()["progress"]] == ["pending"] * 5
    assert (await api.client.delete(f"/studios/{sid}", headers=api.auth("alice"))).status_code == 409
    r = await api.client.put(f"/studios/{sid}/stop", headers=api.auth("bob"))
    assert r.status_code == 409  # still starting: a stop waits until the start is stuck


async def test_validate_name(api: Api) -> None:
    await create(api, "taken")
    ok = await api.client.get(f"/studios/validate?workspaceId={WS}&name=free", headers=api.auth("carol"))
    assert ok.status_code == 204
    dup = await api.client.get(f"/studios/validate?workspaceId={WS}&name=TAKEN", headers=api.auth("carol"))
    assert dup.status_code == 409
    bad = await api.client.get(f"/studios/validate?workspaceId={WS}&name=a%20b", headers=api.auth("carol"))
    assert bad.status_code == 400


async def test_templates(api: Api) -> None:
    r = await api.client.get(f"/studios/templates?workspaceId={WS}", headers=api.auth("carol"))
    assert r.status_code == 200
    tools = {t["tool"]: t["repository"] for t in r.json()["templates"]}
    assert tools["http-echo"] == "studios/http-echo:1" and "jupyter" in tools and "custom" in tools


async def test_workspace_settings_round_trip_and_defaults(api: Api) -> None:
    path = f"/orgs/{ORG}/workspaces/{WS}/settings/studios"
    r = await api.client.get(path, headers=api.auth("carol"))
    assert r.status_code == 200 and r.json()["lifespanHours"] == 0 and r.json()["wspId"] == WS
    r = await api.client.put(path, json={"lifespanHours": 6, "privateStudioByDefault": True},
                             headers=api.auth("alice"))
    assert r.status_code == 204
    got = (await api.client.get(path, headers=api.auth("carol"))).json()
    assert got["lifespanHours"] == 6 and got["privateStudioByDefault"] is True
    assert (await api.client.put(path, json={"lifespanHours": 1}, headers=api.auth("bob"))).status_code == 403
    assert (await api.client.put(path, json={"lifespanHours": -1}, headers=api.auth("alice"))).status_code == 400
    s = await create(api, "defaulted")
    assert s["isPrivate"] is True and s["effectiveLifespanHours"] == 6


async def test_history_shows_actor(api: Api) -> None:
    sid = (await create(api, "audited", user="bob"))["sessionId"]
    await api.client.put(f"/studios/{sid}/start", headers=api.auth("alice"))
    r = await api.client.get(f"/studios/{sid}/history", headers=api.auth("carol"))
    events = r.json()["events"]
    assert [(e["eventType"], e["actor"]) for e in events] == [("StudioCreated", "2"), ("StudioStartRequested", "1")]
    assert r.json()["totalSize"] == 2
    page = (await api.client.get(f"/studios/{sid}/history?max=1&offset=1", headers=api.auth("carol"))).json()
    assert [e["eventType"] for e in page["events"]] == ["StudioStartRequested"]


async def test_sse_yields_the_create_event(api: Api) -> None:
    sid = (await create(api, "streamed"))["sessionId"]
    r = await api.client.get(f"/studios/{sid}/events?follow=false", headers=api.auth("alice"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in r.text.split("\n\n") if b.strip()]
    first = dict(line.split(": ", 1) for line in blocks[0].splitlines())
    assert first["event"] == "StudioCreated" and first["id"] == "0"
    assert json.loads(first["data"])["studio"]["sessionId"] == sid


async def test_mounted_data_links_empty(api: Api) -> None:
    await create(api, "nolinks")
    r = await api.client.get(f"/studios/data-links?workspaceId={WS}", headers=api.auth("alice"))
    assert r.status_code == 200 and r.json() == {"dataLinkIds": []}


async def test_rename_to_taken_name_is_409_and_delete_frees_it(api: Api) -> None:
    a = (await create(api, "a1"))["sessionId"]
    b = (await create(api, "b1"))["sessionId"]
    r = await api.client.put(f"/studios/{b}", json={"name": "A1"}, headers=api.auth("alice"))
    assert r.status_code == 409
    assert (await api.client.post(f"/studios/{a}/lifespan", headers=api.auth("alice"))).status_code == 409
    assert (await api.client.delete(f"/studios/{a}", headers=api.auth("bob"))).status_code == 403  # maintain+
    assert (await api.client.delete(f"/studios/{a}?workspaceId={WS}", headers=api.auth("alice"))).status_code == 204
    assert (await api.client.get(f"/studios/{a}", headers=api.auth("alice"))).status_code == 404
    r = await api.client.put(f"/studios/{b}", json={"name": "a1"}, headers=api.auth("alice"))
    assert r.status_code == 200 and r.json()["name"] == "a1"
