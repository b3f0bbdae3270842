"""The whole system as a newcomer runs it: ``studios up`` in a subprocess, driven over real HTTP.

It gets a fresh database on the session's PostgreSQL; NATS it starts itself in its own data dir, so its
JetStream streams are its own.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from libs.platform.infra import free_port


@dataclass
class System:
    url: str
    token: str
    database_url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or self.token}"},
                            timeout=30)


def _wait_healthy(url: str, token: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"studios up exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            r = httpx.get(f"{url}/user-info", headers={"Authorization": f"Bearer {token}"}, timeout=2)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"gateway not healthy after {timeout}s:\n{log.read_text()[-4000:]}")


def _wait_lifecycle(system: System, timeout: float = 60) -> None:
    """The gateway answers before lifecycle may; a validate call needs only the gateway, so create+delete."""
    deadline = time.monotonic() + timeout
    with system.client() as c:
        while time.monotonic() < deadline:
            r = c.post("/studios", params={"workspaceId": 1, "autoStart": "false"},
                       json={"name": f"probe-{secrets.token_hex(3)}", "computeEnvId": "local",
                             "dataStudioToolUrl": "studios/http-echo:1"})
            if r.status_code == 200:
                c.delete(f"/studios/{r.json()['studio']['sessionId']}", params={"workspaceId": 1})
                return
            time.sleep(0.3)
    raise TimeoutError("lifecycle never answered")


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    """Settings of a module's system: path mode, as these tests reach studios at ``/connect/<id>/`` (a module
    overrides this fixture for subdomain mode: ``test_browser_isolation``)."""
    return {"STUDIOS_CONNECT_MODE": "path"}


@pytest.fixture(scope="module")
def system(server_database_url: str, tmp_path_factory: pytest.TempPathFactory,
           system_env: dict[str, str]) -> Iterator[System]:
    import asyncio

    from libs.testing.infra import create_database

    database_url = asyncio.run(create_database(server_database_url, "e2e"))
    data_dir = tmp_path_factory.mktemp("studios")
    port, token = free_port(), secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL",)}
    env.update(DATABASE_URL=database_url, STUDIOS_ADMIN_TOKEN=token, STUDIOS_PORT=str(port),
               STUDIOS_DATA_DIR=str(data_dir), STUDIOS_STOP_GRACE_SECONDS="5", **system_env)
    log = data_dir / "studios-up.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "libs.platform.cli", "up"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    system = System(f"http://127.0.0.1:{port}", token, database_url, data_dir, proc)
    try:
        _wait_healthy(system.url, token, proc, log)
        _wait_lifecycle(system)
        yield system
    finally:
        descendants = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        _, alive = psutil.wait_procs(descendants, timeout=10)
        assert not alive, f"left behind: {[p.pid for p in alive]}"
        assert proc.returncode == 0, log.read_text()[-4000:]
