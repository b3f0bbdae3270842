"""The native dialect over HTTP: the template registry, POST /templates/{id}/build -> an operation, long-poll,
abort, builds and their logs; errors as RFC 9457 problem details. Real builder, uv, PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
from fastapi import FastAPI

from libs.bus.commands import CommandClient
from libs.eventstore import EventStore
from libs.testing.waiting import wait_for
from services.gateway.api import native
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.commands import BusCommandSender
from services.gateway.read.projections import BUILDS, run
from services.gateway.read.schema import GATEWAY
from tests.integration.builder_harness import builder_settings, running_builder, silent_index, wheels
from tests.integration.studios_api_helpers import seed

ADMIN, USER = {"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}
LAB = {"id": "tiny-lab", "repository": "studios/tiny-lab:1", "tool": "jupyter",
       "condaEnvironment": "dependencies:\n  - pip:\n    - tinypkg==1.0\n"}


@contextlib.asynccontextmanager
async def native_api(database_url: str, nats_url: str, find_links: str, data: Path
                     ) -> AsyncIterator[httpx.AsyncClient]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    await seed(store)
    await store.pool.execute("UPDATE read.users SET is_admin = true WHERE user_name = 'alice'")
    nc = await nats.connect(nats_url)
    app = FastAPI()
    install_error_handlers(app)
    app.state.store, app.state.sender = store, BusCommandSender(CommandClient(nc), timeout=20)
    app.include_router(native.router)
    stop = asyncio.Event()
    task = asyncio.create_task(run(store, BUILDS, stop))
    try:
        async with running_builder(builder_settings(database_url, nats_url, data, find_links)), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as client:
            yield client
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        await store.close()


async def test_templates_are_versioned_and_a_build_is_an_operation_that_succeeds_then_is_reused(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    links = str(wheels(tmp_path / "wheels"))
    async with native_api(database_url, nats_url, links, tmp_path / "data") as api:
        async def seeded() -> set[str]:
            return {t["id"] for t in (await api.get("/templates", headers=USER)).json()["templates"]}

        # the builder registers the built-in templates at start; the read model shows them a moment later
        built_in = {"jupyter-4", "http-echo-1", "custom-1"}
        ids: set[str] = await wait_for(seeded, within=30, until=lambda seen: built_in <= seen,
                                       what="built-in templates listed")
        assert "jupyter-4" in ids
        created = await api.post("/templates", json=LAB, headers=ADMIN)
        assert created.status_code == 201 and created.json()["version"] == 1
        assert (await api.post("/templates", json=LAB, headers=USER)).status_code == 403
        changed = {k: v for k, v in LAB.items() if k != "id"} | {"status": "experimental"}
        assert (await api.put("/templates/tiny-lab", json=changed, headers=ADMIN)).json()["version"] == 2
        versions = (await api.get("/templates/tiny-lab/versions", headers=USER)).json()["versions"]
        assert [(v["version"], v["status"]) for v in versions] == [(1, "recommended"), (2, "experimental")]

        op = (await api.post("/templates/tiny-lab/build", headers=USER)).json()
        assert op["kind"] == "build" and op["id"] == f"build-{op['buildId']}-1"
        done = (await api.get(f"/operations/{op['id']}", params={"wait": 60}, headers=USER)).json()
        assert done["state"] == "succeeded" and done["done"], done
        assert done["result"]["artifact"]["uri"].startswith("file://")
        assert [p["status"] for p in done["progress"]] == ["succeeded"] * 3
        build = (await api.get(f"/builds/{op['buildId']}", headers=USER)).json()
        assert build["status"] == "succeeded" and build["builds"] == 1 and build["templateId"] == "tiny-lab"
        logs = (await api.get(f"/builds/{op['buildId']}/logs", headers=USER)).json()
        assert any("tinypkg==1.0" in line["message"] for line in logs["lines"])
        async with api.stream("GET", f"/builds/{op['buildId']}/logs", params={"follow": "true"},
                              headers=USER) as followed:
            streamed = [line async for line in followed.aiter_lines() if line]
        assert len(streamed) == len(logs["lines"])

        again = (await api.post("/templates/tiny-lab/build", headers=USER)).json()
        assert again["id"] == op["id"] and again["state"] == "succeeded"  # the same key: reused at once


async def test_an_operation_can_be_aborted_and_errors_are_problem_details(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with silent_index() as index, native_api(database_url, nats_url, index, tmp_path / "data") as api:
        assert (await api.post("/templates", json=LAB, headers=ADMIN)).status_code == 201
        op = (await api.post("/templates/tiny-lab/build", headers=USER)).json()
        pending = (await api.get(f"/operations/{op['id']}", params={"wait": 0.2}, headers=USER)).json()
        assert not pending["done"]
        assert (await api.delete(f"/operations/{op['id']}", headers=USER)).status_code == 403
        aborted = (await api.delete(f"/operations/{op['id']}", headers=ADMIN)).json()
        assert aborted["state"] == "cancelled" and aborted["error"]["code"] == "build_cancelled"

        missing = await api.get("/operations/build-nope-1", headers=USER)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["status"] == 404 and missing.json()["code"] == "not_found"
        bad = await api.post("/templates", json={**LAB, "id": "other", "tool": "emacs"}, headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["code"] == "invalid" and "tool" in bad.json()["detail"]
        shapeless = await api.post("/templates", json={"id": "x"}, headers=ADMIN)
        assert shapeless.status_code == 400 and shapeless.headers["content-type"] == "application/problem+json"
        assert (await api.get("/templates", headers={})).status_code == 401
