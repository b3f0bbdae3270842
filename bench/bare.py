"""The baselines: a tool spawned directly with the environment ``LocalBackend`` gives it, until it answers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.system import BARE_POLL, INHERITED_ENV
from libs.platform.infra import free_port
from services.lifecycle.backends.base import LaunchSpec
from services.lifecycle.backends.tools import build_command, proxy_headers


def bare_spec(tool: str, root: Path) -> LaunchSpec:
    sid = f"bare-{secrets.token_hex(4)}"
    return LaunchSpec(session_id=sid, studio_id=sid, tool=tool, workspace_dir=root / "bare" / sid,
                      base_path=f"/connect/{sid}/", secret=secrets.token_hex(32))


@dataclass
class Bare:
    proc: subprocess.Popen[bytes]
    url: str
    headers: dict[str, str]

    def stop(self, grace: float = 10) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def spawn_bare(tool: str, root: Path, module: str | None = None) -> Bare:
    """The tool as LocalBackend starts it (same command, allow-listed environment, own group, log file); with
    ``module``, ``python -m <module>`` instead of the template's (``jupyterlab``: the lab as shipped, beside the
    template's lean launcher)."""
    spec, port = bare_spec(tool, root), free_port()
    command = build_command(spec, port)
    if module is not None:
        command[command.index("-m") + 1] = module
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.update(PYTHONUNBUFFERED="1", CONNECT_TOOL_PORT=str(port), STUDIOS_SESSION_ID=spec.session_id,
               STUDIOS_STUDIO_ID=spec.studio_id, STUDIOS_SESSION_SECRET=spec.secret,
               STUDIOS_BASE_PATH=spec.base_path)
    spec.workspace_dir.mkdir(parents=True, exist_ok=True)
    with (spec.workspace_dir.parent / f"{spec.session_id}.log").open("ab") as log:
        proc = subprocess.Popen(command, cwd=spec.workspace_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    path = f"{spec.base_path}api/status" if tool == "jupyter" else "/"
    return Bare(proc, f"http://127.0.0.1:{port}{path}", proxy_headers(spec))


async def until_answers(probe: httpx.AsyncClient, bare: Bare, t0: float, timeout: float) -> float:
    """Seconds from t0 until a GET with the secret gets a status below 500 (what LocalBackend.ready accepts)."""
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await probe.get(bare.url, headers=bare.headers, timeout=2)).status_code < 500:
                return time.perf_counter() - t0
        if bare.proc.poll() is not None:
            raise RuntimeError(f"bare tool exited {bare.proc.returncode} before answering")
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"bare tool did not answer within {timeout}s")
        await asyncio.sleep(BARE_POLL)


async def bare_start_once(tool: str, root: Path, timeout: float, module: str | None = None) -> float:
    async with httpx.AsyncClient(trust_env=False) as probe:
        t0 = time.perf_counter()
        bare = spawn_bare(tool, root, module)
        try:
            return await until_answers(probe, bare, t0, timeout)
        finally:
            await asyncio.to_thread(bare.stop)
