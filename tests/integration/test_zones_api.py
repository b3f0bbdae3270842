"""A studio's file-sync zones through our own routes (``/studios/{id}/zones``), on the whole system in process
(gateway, lifecycle, builder, checkpoints on real PostgreSQL and NATS): list, pull a file the studio wrote into the
stored copy, push it into a second studio of the same workspace, see a conflict when both sides change it, and a
clear 404 for an unknown zone or another user's view."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats

from libs.bus.commands import CommandClient
from libs.contracts.checkpoint_commands import CollectGarbage
from libs.testing.waiting import wait_for
from tests.integration.dataiku_harness import System, running_system

WS = 1  # the default workspace the gateway bootstraps
ZONE = "project_lib-versioned"  # the workspace's stored copy: every studio of it syncs with the same one


async def _running_studio(http: httpx.AsyncClient, name: str) -> str:
    r = await http.post("/studios", params={"workspaceId": WS},
                        json={"name": name, "computeEnvId": "local", "dataStudioToolUrl": "studios/http-echo:1"})
    assert r.status_code == 200, r.text
    sid = str(r.json()["studio"]["sessionId"])

    async def status() -> str:
        return str((await http.get(f"/studios/{sid}", params={"workspaceId": WS})).json()["statusInfo"]["status"])

    assert await wait_for(status, until=lambda s: s in ("running", "errored", "stopped"), within=60,
                          what=f"studio {sid} at rest") == "running"
    return sid


async def test_zones_list_pull_push_and_conflicts(database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system, system.http() as http:
        a, b = await _running_studio(http, "zones-a"), await _running_studio(http, "zones-b")
        listed = await http.get(f"/studios/{a}/zones", params={"workspaceId": WS})
        assert listed.status_code == 200, listed.text
        assert [z["name"] for z in listed.json()["zones"]] == ["code_studio-versioned", "user-versioned", ZONE]

        folder_a, folder_b = _folder(system, a), _folder(system, b)
        folder_a.mkdir(parents=True, exist_ok=True)
        (folder_a / "helpers.py").write_text("ANSWER = 42\n")
        pulled = await http.post(f"/studios/{a}/zones/{ZONE}/pull", params={"workspaceId": WS})
        assert pulled.status_code == 200, pulled.text
        assert pulled.json()["count"] == 1 and pulled.json()["size"] == len("ANSWER = 42\n")

        pushed = await http.post(f"/studios/{b}/zones/{ZONE}/push", params={"workspaceId": WS})
        assert pushed.status_code == 200 and pushed.json()["count"] == 1, pushed.text
        assert (folder_b / "helpers.py").read_text() == "ANSWER = 42\n"

        # b changes the file and syncs it up; a changes it too without syncing: a conflict for a
        (folder_b / "helpers.py").write_text("ANSWER = 43\n")
        assert (await http.post(f"/studios/{b}/zones/{ZONE}/pull", params={"workspaceId": WS})).status_code == 200
        (folder_a / "helpers.py").write_text("ANSWER = 44\n")
        conflicts = await http.get(f"/studios/{a}/zones/{ZONE}/conflicts", params={"workspaceId": WS})
        assert conflicts.status_code == 200, conflicts.text
        assert conflicts.json()[ZONE]["modified"] == ["helpers.py"]

        # a takes the stored copy (its local change is overwritten, as push does): now no zone names the first
        # version (a's last sync was it until now), so garbage collection removes its content; the rest is kept
        assert (await http.post(f"/studios/{a}/zones/{ZONE}/push", params={"workspaceId": WS})).json()["count"] == 1
        assert (folder_a / "helpers.py").read_text() == "ANSWER = 43\n"
        first = _blob(system, "ANSWER = 42\n")
        assert first.exists()
        collected = await _collect(nats_url)
        assert collected["ran"] and collected["zoneBlobsDeleted"] >= 1, collected
        assert not first.exists() and _blob(system, "ANSWER = 43\n").exists()
        (folder_a / "helpers.py").unlink()
        assert (await http.post(f"/studios/{a}/zones/{ZONE}/push", params={"workspaceId": WS})).json()["count"] == 1
        assert (folder_a / "helpers.py").read_text() == "ANSWER = 43\n"

        unknown = await http.post(f"/studios/{a}/zones/no-such-zone/pull", params={"workspaceId": WS})
        assert unknown.status_code == 404 and "Zone" in unknown.text
        missing = await http.get("/studios/deadbeef/zones", params={"workspaceId": WS})
        assert missing.status_code == 404


def _folder(system: System, session_id: str) -> Path:
    return system.workspace(session_id) / ZONE


def _blob(system: System, content: str) -> Path:
    sha = hashlib.sha256(content.encode()).hexdigest()
    return system.data.resolve() / "checkpoints" / "zones" / "blobs" / sha[:2] / sha


async def _collect(nats_url: str) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    try:
        reply = await CommandClient(nc, timeout=120).send(
            CollectGarbage(now=datetime.now(UTC), actor="test", grace_seconds=0))
        return dict(reply.result or {})
    finally:
        await nc.close()

