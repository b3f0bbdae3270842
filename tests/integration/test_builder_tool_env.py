"""A tool runs in the environment the builder made: the control plane's interpreter (JupyterLab's, and so the
kernels it starts with ``sys.executable``) imports its packages, and a command's ``python`` is the environment's."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from libs.contracts.build import BuildSpec
from libs.testing.wheels import write_wheel
from services.builder.environments.uv import UvEnvironments
from services.lifecycle.backends import tools
from services.lifecycle.backends.base import LaunchSpec


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str, stream: str = "stdout") -> None:
        self.lines.append(text)


async def _output(*argv: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode().strip()


async def test_the_tools_interpreter_and_its_path_python_import_the_built_packages(tmp_path: Path) -> None:
    write_wheel(tmp_path / "wheels", "tinypkg", "2.0")
    envs = UvEnvironments(tmp_path / "envs", tmp_path / "cache", find_links=[str(tmp_path / "wheels")],
                          no_index=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    artifact = await envs.build("b1", BuildSpec(requirements=("tinypkg",), python=version), Lines())
    spec = LaunchSpec(session_id="s-1", studio_id="s", tool="jupyter", workspace_dir=tmp_path, base_path="/c/s/",
                      secret="x", python_env=envs.path("b1"))
    inherited = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env = {**inherited, **tools.environment(spec, inherited)}
    assert env["VIRTUAL_ENV"] == str(envs.path("b1")) and await envs.exists(artifact)
    code = "import tinypkg, sys; print(tinypkg.VERSION)"
    assert await _output(sys.executable, "-c", code, env=env) == "2.0"  # how JupyterLab's kernel sees it
    assert await _output("sh", "-c", "python -c 'import sys; print(sys.prefix)'", env=env) == str(envs.path("b1"))
    assert tools.environment(LaunchSpec(session_id="s-2", studio_id="s", tool="jupyter", workspace_dir=tmp_path,
                                        base_path="/c/s/", secret="x"), inherited) == {}
