"""Helpers for the log tests: the logs service in process, a publisher, and reading a run back whole."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from libs.bus.commands import CommandClient
from libs.bus.streams import Topology
from libs.contracts.logs import EPOCH, QueryLogs
from libs.contracts.subjects import command_subject
from libs.logs import LogPublisher
from libs.testing.waiting import wait_for
from services.gateway.logs import LogsClient
from services.logs.main import LogsService, create_app
from services.logs.settings import LogsSettings
from tests.integration.studios_api_helpers import CE, WS, Api


def logs_settings(database_url: str, nats_url: str, **kw: Any) -> LogsSettings:
    return LogsSettings(DATABASE_URL=database_url, NATS_URL=nats_url, **kw)


@contextlib.asynccontextmanager
async def running_logs(database_url: str, nats_url: str, topology: Topology, **kw: Any) -> AsyncIterator[LogsService]:
    service = create_app(logs_settings(database_url, nats_url, **kw), topology)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        while service.ingestor is None:  # bounded by the test's own timeout; start-up is a few round trips
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        await _answering(nats_url, command_subject(QueryLogs.service, QueryLogs.name), task)
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def publisher(nc: NATS, topology: Topology, spool: Path, **kw: Any) -> AsyncIterator[LogPublisher]:
    pub = LogPublisher(nc.jetstream(), spool, prefix=topology.logs_prefix, **kw)
    pub.start()
    try:
        yield pub
    finally:
        await pub.close()


async def read_all(nc: NATS, session_id: str, run: int | None = None, **kw: Any) -> list[dict[str, Any]]:
    """Every stored line of a run, oldest first, going on from the last line's cursor until a reply is empty."""
    client = CommandClient(nc)
    out: list[dict[str, Any]] = []
    query = QueryLogs(id=session_id, run=run, start_at=EPOCH, **kw)
    while True:
        result = (await client.send(query)).result or {}
        if not result["lines"]:
            return out
        out.extend(result["lines"])
        query = QueryLogs(id=session_id, run=run, after=result["lines"][-1]["id"], **kw)


@pytest.fixture(name="logs_api")
async def logs_api_fixture(api: Api, database_url: str, nats_url: str, nc: NATS, topology: Topology,
                   tmp_path: Path) -> AsyncIterator[tuple[Api, LogPublisher]]:
    api.client._transport.app.state.logs = LogsClient(nc, topology)  # type: ignore[attr-defined]
    async with running_logs(database_url, nats_url, topology), publisher(nc, topology, tmp_path / "spool") as pub:
        yield api, pub


async def studio(api: Api, owner: str, name: str, **extra: Any) -> str:
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", headers=api.auth(owner),
                              json={"name": name, "computeEnvId": CE, **extra})
    assert r.status_code == 200, r.text
    return str(r.json()["studio"]["sessionId"])


async def stored_lines(api: Api, sid: str, n: int, **params: Any) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        r = await api.client.get(f"/studios/{sid}/logs", params=params, headers=api.auth("alice"))
        return r.json() if r.status_code == 200 and len(r.json()) >= n else None
    return await wait_for(check, what=f"{n} lines stored")


async def _answering(nats_url: str, subject: str, task: asyncio.Task[None]) -> None:
    """Until the service's command subscriber answers: FastStream starts subscribers in no fixed order, so a
    ready ingestor says nothing of the query subject (a first query once found no responder)."""
    nc = await nats.connect(nats_url)
    try:
        for _ in range(400):
            if task.done():
                task.result()
            with contextlib.suppress(Exception):
                await nc.request(subject, b"{}", timeout=0.2)
                return
            await asyncio.sleep(0.05)
    finally:
        await nc.close()

