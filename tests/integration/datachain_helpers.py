"""The whole jobs path in one process: the gateway on a real uvicorn (the DataChain CLI is another process) and
lifecycle, on one set of JetStream streams; and the DataChain CLI pointed at it by its config file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from libs.bus.streams import Topology, delete_streams
from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings
from tests.integration.lifecycle_harness import Lifecycle, running_lifecycle
from tests.integration.proxy_helpers import serve

ADMIN = "admin-token-for-datachain"
CLI = Path(sys.executable).parent / "datachain"


@dataclass
class System:
    url: str
    lc: Lifecycle
    home: Path  # the CLI's working and config folders


@contextlib.asynccontextmanager
async def running_system(database_url: str, nats_url: str, tmp: Path, **lifecycle: Any) -> AsyncIterator[System]:
    topology = Topology.unique("dc")
    settings = GatewaySettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(tmp / "gw"),
                               STUDIOS_ADMIN_TOKEN=ADMIN)
    try:
        async with running_lifecycle(database_url, nats_url, tmp / "lc", topology=topology,
                                     STUDIOS_JOB_DISPATCH_INTERVAL_SECONDS=0.05,
                                     STUDIOS_LIFECYCLE_METRICS_PORT=0, **lifecycle) as lc, \
                serve(create_app(settings, topology)) as host:
            home = tmp / "cli"
            (home / "config").mkdir(parents=True)
            url = f"http://{host}"
            (home / "config" / "config").write_text(
                f'[studio]\nurl = "{url}"\ntoken = "{ADMIN}"\nteam = "default"\n')
            yield System(url, lc, home)
    finally:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()


async def cli(system: System, *args: str, timeout: float = 120) -> tuple[int, str]:
    """``datachain <args>`` as a user runs it, in ``system.home``; its exit code and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATACHAIN_", "STUDIOS_"))}
    env.update(DATACHAIN_GLOBAL_CONFIG_DIR=str(system.home / "config"), DATACHAIN_ROOT_DIR=str(system.home / ".dc"),
               DATACHAIN_NO_ANALYTICS="1", DO_NOT_TRACK="1", NO_COLOR="1")
    proc = await asyncio.create_subprocess_exec(str(CLI), *args, cwd=system.home, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return int(proc.returncode or 0), out.decode(errors="replace")
