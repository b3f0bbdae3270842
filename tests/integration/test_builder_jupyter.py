"""JupyterLab launched by the local backend in a built environment: its kernel imports the environment's package."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from libs.contracts.build import BuildSpec
from libs.testing.wheels import write_wheel
from services.builder.environments.uv import UvEnvironments
from services.lifecycle.backends.base import LaunchSpec
from services.lifecycle.backends.local import LocalBackend
from tests.integration.test_builder_tool_env import Lines
from tests.integration.test_proxy_jupyter import KERNEL, _execute, _stream_output

pytest.importorskip("jupyterlab")
pytestmark = pytest.mark.jupyter


async def test_the_jupyterlab_kernel_imports_the_built_environment(tmp_path: Path) -> None:
    write_wheel(tmp_path / "wheels", "tinypkg", "2.0")
    envs = UvEnvironments(tmp_path / "envs", tmp_path / "cache", find_links=[str(tmp_path / "wheels")],
                          no_index=True)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    await envs.build("jb", BuildSpec(requirements=("tinypkg",), python=python), Lines())
    (tmp_path / "ws").mkdir()
    spec = LaunchSpec(session_id="sj-1", studio_id="sj", tool="jupyter", workspace_dir=tmp_path / "ws",
                      base_path="/connect/sj/", secret="s3cret", python_env=envs.path("jb"))
    backend = LocalBackend(tmp_path / "state", grace=5.0, cgroups=False)
    handle = await backend.launch(spec)
    try:
        assert await backend.ready(handle, timeout=90)
        base = f"{handle.host}:{handle.port}/connect/sj"
        auth = {"Authorization": "token s3cret"}
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            r = await http.post(f"http://{base}/api/kernels", json={"name": "python3"}, headers=auth)
            assert r.status_code == 201, r.text
            kernel = r.json()["id"]
        async with connect(f"ws://{base}/api/kernels/{kernel}/channels?session_id=s", additional_headers=auth,
                           subprotocols=[KERNEL], max_size=None) as ws:
            await ws.send(_execute("import tinypkg; print(tinypkg.VERSION, tinypkg.__file__)"))
            version, path = (await _stream_output(ws)).split()
        assert version == "2.0" and path.startswith(str(envs.path("jb")))
    finally:
        await backend.stop(handle, grace=5.0)
