"""The whole system for the Dataiku dialect's tests, in process on real PostgreSQL and NATS: the real gateway
(``create_app``, its lifespan, on uvicorn), lifecycle (local backend), the builder (local wheels only) and the
checkpoints service. The Dataiku client is synchronous (``requests``), so tests call it in a thread."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats

from libs.bus.streams import Topology, delete_streams
from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings
from tests.integration.builder_harness import builder_settings, running_builder, wheels
from tests.integration.checkpoint_helpers import running_checkpoints
from tests.integration.lifecycle_harness import Lifecycle, running_lifecycle
from tests.integration.proxy_helpers import serve

#: a tool that needs its template's environment: it imports the package, then serves its workspace
SERVE = ["sh", "-c", 'python -c "import tinypkg" && exec python -m http.server "$CONNECT_TOOL_PORT"']
TEMPLATE = {"id": "dku-lab", "repository": "studios/dku-lab:1", "tool": "custom", "command": SERVE,
            "basePath": False, "description": "A lab for Dataiku", "requirements": ["tinypkg==1.0"]}


@dataclass
class System:
    url: str  # the gateway's base URL (the Dataiku client's host)
    token: str  # the admin's API key
    lifecycle: Lifecycle
    data: Path

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def workspace(self, session_id: str) -> Path:
        return self.lifecycle.settings.workspaces_dir / session_id


@contextlib.asynccontextmanager
async def running_system(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[System]:
    data, token = tmp_path / "data", f"adm-{secrets.token_hex(8)}"
    topology = Topology.unique("dku")
    gateway = GatewaySettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(data),
                              STUDIOS_ADMIN_TOKEN=token, STUDIOS_CONNECT_MODE="path")
    builder = builder_settings(database_url, nats_url, data, str(wheels(tmp_path / "wheels")))
    try:
        async with running_builder(builder, topology), \
                running_checkpoints(database_url, nats_url, data, STUDIOS_CHECKPOINT_INTERVAL_MINUTES=0), \
                running_lifecycle(database_url, nats_url, data, topology=topology) as lc, \
                serve(create_app(gateway, topology)) as address:
            yield System(f"http://{address}", token, lc, data)
    finally:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()
