"""The lifecycle service with a Docker engine (STUDIOS_DOCKER_HOST): a studio on a docker-platform compute environment
runs as a container, its output reaches the logs service, and a stop removes the container (real engine: DOCKER_HOST
or a private podman; skipped with the reason without one)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiodocker
from nats.aio.client import Client as NATS

from libs.bus.streams import Topology, delete_streams, ensure_streams
from libs.contracts import identity
from libs.contracts.identity import ComputeEnvCreated
from libs.contracts.logs import QueryLogs
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio_commands import DeleteStudio, StartStudio, StopStudio
from libs.eventstore import Expected, to_new_events
from libs.testing.podman import Engine
from libs.testing.waiting import wait_for
from services.gateway.logs import LogsClient
from services.lifecycle.backends.containers import workspace_volume
from tests.integration.bus_helpers import nc_fixture  # noqa: F401
from tests.integration.lifecycle_harness import create, running_lifecycle
from tests.integration.logs_helpers import running_logs

TOOL = ('i=1; while [ $i -le 50 ]; do echo "tool line $i"; i=$((i+1)); done; '
        'exec busybox httpd -f -p "$CONNECT_TOOL_PORT" -h /www')


async def test_a_docker_studio_runs_as_a_container_and_logs_to_the_logs_service(
        database_url: str, nats_url: str, nc: NATS, tmp_path: Path, docker_engine: Engine) -> None:
    topology = Topology.unique("dk")
    await ensure_streams(nc.jetstream(), topology)
    engine = aiodocker.Docker(url=docker_engine.url)
    try:
        async with running_logs(database_url, nats_url, topology), \
                running_lifecycle(database_url, nats_url, tmp_path, topology=topology,
                                  STUDIOS_DOCKER_HOST=docker_engine.url) as lc:
            env_id = uuid.uuid4().hex[:10]
            created = ComputeEnvCreated(compute_env_id=env_id, workspace_id=1, name="docker", actor="1",
                                        platform="docker-platform", config={"workDir": "/w"}, at=datetime.now(UTC),
                                        allow_custom_commands=True)
            await lc.store.append(identity.stream(identity.COMPUTE_ENV, env_id), to_new_events([created]),
                                  Expected.NO_STREAM)
            cmd = create("in-docker", auto_start=False,
                         template=StudioTemplate(repository=docker_engine.image, tool="custom"),
                         configuration=StudioConfiguration(command=("sh", "-c", TOOL)))
            cmd = cmd.model_copy(update={"compute_env_id": env_id})
            await lc.send(cmd)
            sid = cmd.session_id
            await lc.send(StartStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
            await lc.wait_status(sid, StudioStatus.RUNNING)

            [container] = await engine.containers.list(filters=f'{{"label": ["studios.studio={sid}"]}}')
            assert docker_engine.image in container["Image"]  # the template's repository
            client = LogsClient(nc, topology)
            lines = await wait_for(lambda: _tool_lines(client, sid), until=lambda got: len(got) >= 50,
                                   what="the container's output stored by the logs service")
            assert lines == [f"tool line {i}" for i in range(1, 51)]

            await lc.send(StopStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
            await lc.wait_status(sid, StudioStatus.STOPPED)
            assert await engine.containers.list(filters=f'{{"label": ["studios.studio={sid}"]}}') == []

            # deleted: the workspace volume and the folder it binds go with the studio (a reconcile pass)
            folder = lc.settings.workspaces_dir / sid
            volume = workspace_volume(sid, folder)
            assert folder.is_dir() and await _volumes(engine, sid) == [volume]  # kept by the stop
            await lc.send(DeleteStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
            await wait_for(lambda: _volumes(engine, sid), until=lambda names: names == [], within=30,
                           what="the deleted studio's workspace volume removed")
            await wait_for(lambda: not folder.exists(), until=bool, within=30,
                           what="the deleted studio's workspace folder removed")
    finally:
        await engine.close()
        await delete_streams(nc.jetstream(), topology)


async def _tool_lines(client: LogsClient, sid: str) -> list[str]:
    found: list[dict[str, Any]] = list((await client.query(QueryLogs(id=sid))).get("lines", []))
    return [x["message"] for x in found if x["source"] == "user" and x["message"].startswith("tool line")]


async def _volumes(engine: aiodocker.Docker, sid: str) -> list[str]:
    found = await engine.volumes.list(filters={"label": [f"studios.studio={sid}"]})
    return sorted(v["Name"] for v in found.get("Volumes") or [])
