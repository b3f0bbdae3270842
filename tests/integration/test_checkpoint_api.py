"""Seqera's checkpoint routes on the real read model and the real checkpoints service (over NATS): list with
search and paging, newest first; get; rename with a 409 on a duplicate; our delete. Every response to a path of
Seqera's spec is checked against its schema (``libs.testing.seqera_schema``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from libs.bus.commands import CommandClient
from libs.contracts.checkpoint import SaveKind, checkpoint_id
from libs.contracts.checkpoint_commands import CheckpointCommand, SaveCheckpoint
from libs.contracts.commands import Command, CommandMeta, Reply
from libs.contracts.studio import StudioConfiguration, StudioStartRequested, StudioTemplate
from libs.contracts.studio import stream_name as studio_stream
from libs.eventstore import AppendRequest, EventStore, Expected, to_new_events
from libs.testing.seqera_schema import checked_client_hooks
from libs.testing.waiting import wait_for
from services.gateway.api.seqera import StudiosContext, install, router
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.read.projections import CHECKPOINTS, STUDIOS, run
from services.gateway.read.schema import GATEWAY
from tests.integration.checkpoint_helpers import fill_workspace, running_checkpoints
from tests.integration.studios_api_helpers import CE, WS, InProcessSender, seed

ALICE = {"Authorization": "Bearer alice"}
CAROL = {"Authorization": "Bearer carol"}  # view role: reads, may not rename


class Sender:
    """Studio commands in process (as in the Studios API tests), checkpoint commands to the real service."""

    def __init__(self, store: EventStore, client: CommandClient) -> None:
        self.studios, self.client = InProcessSender(store), client

    async def send(self, cmd: Command, meta: CommandMeta | None = None) -> Reply:
        if isinstance(cmd, CheckpointCommand):
            return await self.client.send(cmd, meta=meta)
        return await self.studios.send(cmd, meta)


@contextlib.asynccontextmanager
async def gateway(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient,
                                                                                           CommandClient]]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    await seed(store)
    stop = asyncio.Event()
    async with running_checkpoints(database_url, nats_url, tmp_path) as client:
        app = FastAPI()
        install_error_handlers(app)
        install(app, StudiosContext(store, Sender(store, client), public_url="http://gw.test"))
        app.include_router(router)
        tasks = [asyncio.create_task(run(store, p, stop)) for p in (STUDIOS, CHECKPOINTS)]
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test",
                                         event_hooks=checked_client_hooks()) as http:
                yield http, client
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await store.close()


async def _studio_with_checkpoints(http: httpx.AsyncClient, client: CommandClient, database_url: str,
                                   tmp_path: Path, runs: int) -> str:
    r = await http.post(f"/studios?workspaceId={WS}&autoStart=false", headers=ALICE, json={
        "name": "with-checkpoints", "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1"})
    assert r.status_code == 200, r.text
    session = r.json()["studio"]["sessionId"]
    store = await EventStore.connect(database_url)
    template = StudioTemplate(repository="studios/http-echo:1", tool="http-echo")
    events = [StudioStartRequested(session_id=session, at=datetime.now(UTC), actor="1", run=n, compute_env_id=CE,
                                   template=template, configuration=StudioConfiguration(), effective_lifespan_hours=0,
                                   progress_steps=()) for n in range(1, runs + 1)]
    await store.append_many([AppendRequest(studio_stream(session), to_new_events(events), Expected.ANY)])
    await store.close()  # the runs lifecycle would have recorded, without launching anything
    ws = tmp_path / "ws"
    fill_workspace(ws, big_mb=1)
    for n in range(1, runs + 1):
        (ws / f"run{n}.txt").write_text(str(n))
        await client.send(SaveCheckpoint(session_id=session, now=datetime.now(UTC), actor="lifecycle", run=n,
                                         kind=SaveKind.FINAL, workspace=str(ws), workspace_id=str(WS), author_id="1"))
    return session


async def _listed(http: httpx.AsyncClient, path: str, n: int, *, finalized: bool = False) -> dict[str, Any]:
    """The list once it holds ``n`` checkpoints (``finalized``: and each save's last event is in: a checkpoint is
    listed from its first event on, and its sizes and status come with the later ones)."""
    async def body() -> dict[str, Any] | None:
        r = await http.get(path, headers=ALICE)
        assert r.status_code == 200, r.text
        listed = r.json()
        done = not finalized or all(c["status"] == "finalized" for c in listed["checkpoints"])
        return listed if listed["totalSize"] == n and done else None

    return await wait_for(body, within=30, what=f"{n} checkpoints listed" + (", finalized" if finalized else ""))


async def test_list_search_get_rename_delete(database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with gateway(database_url, nats_url, tmp_path) as (http, client):
        s = await _studio_with_checkpoints(http, client, database_url, tmp_path, runs=3)
        base = f"/studios/{s}/checkpoints"
        page = await _listed(http, f"{base}?workspaceId={WS}", 3)
        assert [c["name"] for c in page["checkpoints"]] == ["checkpoint_3", "checkpoint_2", "checkpoint_1"]
        first = page["checkpoints"][-1]
        assert first["id"] == checkpoint_id(s, 1) and first["status"] == "finalized"
        assert first["author"]["userName"] == "alice" and first["path"].startswith("manifests/")

        async def names(query: str) -> list[str]:
            r = await http.get(f"{base}?{query}", headers=ALICE)
            assert r.status_code == 200, r.text
            return [c["name"] for c in r.json()["checkpoints"]]

        assert await names("max=1&offset=1") == ["checkpoint_2"]
        assert await names("search=checkpoint_2") == ["checkpoint_2"]
        assert await names("search=status:interim") == []
        assert len(await names("search=status:finalized author:alice")) == 3
        assert await names("search=author:bob") == []
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        assert len(await names(f"search=before:{tomorrow}")) == 3 and await names(f"search=after:{tomorrow}") == []
        assert (await http.get(f"{base}?search=status:nope", headers=ALICE)).status_code == 400

        one = await http.get(f"{base}/{first['id']}", headers=CAROL)
        assert one.status_code == 200 and one.json()["name"] == "checkpoint_1"
        assert (await http.get(f"{base}/12345", headers=ALICE)).status_code == 404

        renamed = await http.put(f"{base}/{first['id']}", headers=ALICE, json={"name": "before upgrade"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "before_upgrade"
        duplicate = await http.put(f"{base}/{checkpoint_id(s, 2)}", headers=ALICE, json={"name": "before upgrade"})
        assert duplicate.status_code == 409, duplicate.text
        assert (await http.put(f"{base}/{first['id']}", headers=CAROL, json={"name": "x"})).status_code == 403

        latest = await http.delete(f"{base}/{checkpoint_id(s, 3)}", headers=ALICE)
        assert latest.status_code == 409, latest.text  # what the next start restores
        gone = await http.delete(f"{base}/{first['id']}", headers=ALICE)
        assert gone.status_code == 204, gone.text
        page = await _listed(http, base, 2)
        assert [c["name"] for c in page["checkpoints"]] == ["checkpoint_3", "checkpoint_2"]
        assert (await http.get(f"{base}/{first['id']}", headers=ALICE)).status_code == 404


@pytest.mark.parametrize("path", ["/studios/nope/checkpoints", "/studios/nope/checkpoints/1"])
async def test_an_unknown_studio_is_404(database_url: str, nats_url: str, tmp_path: Path, path: str) -> None:
    async with gateway(database_url, nats_url, tmp_path) as (http, _):
        assert (await http.get(path, headers=ALICE)).status_code == 404



async def test_a_clone_shows_its_parent_checkpoint(database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with gateway(database_url, nats_url, tmp_path) as (http, client):
        s = await _studio_with_checkpoints(http, client, database_url, tmp_path, runs=1)
        await _listed(http, f"/studios/{s}/checkpoints", 1)
        r = await http.post(f"/studios?workspaceId={WS}&autoStart=false", headers=ALICE, json={
            "name": "the-clone", "computeEnvId": CE, "dataStudioToolUrl": "studios/http-echo:1",
            "initialCheckpointId": checkpoint_id(s, 1)})
        assert r.status_code == 200, r.text
        clone = r.json()["studio"]["sessionId"]
        shown = (await http.get(f"/studios/{clone}?workspaceId={WS}", headers=ALICE)).json()
        assert shown["parentCheckpoint"] == {"checkpointId": checkpoint_id(s, 1), "checkpointName": "checkpoint_1",
                                             "sessionId": s, "studioName": "with-checkpoints"}


async def test_the_checkpoints_read_model_rebuilds_blue_green(database_url: str, nats_url: str,
                                                              tmp_path: Path) -> None:
    from services.gateway.read.projections import rebuild

    async with gateway(database_url, nats_url, tmp_path) as (http, client):
        s = await _studio_with_checkpoints(http, client, database_url, tmp_path, runs=2)
        before = await _listed(http, f"/studios/{s}/checkpoints", 2, finalized=True)
        store = await EventStore.connect(database_url)
        try:
            done = await rebuild.rebuild(store, "checkpoints")
        finally:
            await store.close()
        assert done.name.startswith("checkpoints")
        assert await _listed(http, f"/studios/{s}/checkpoints", 2) == before  # served from version 2 now
