"""The ComputeBackend contract, run against the fake, the real local backend, docker and kubernetes (STYLE.md §11;
kubernetes where KUBECONFIG names a cluster that answers, tests/integration/kube_cluster.py).

Tests that need a real process (HTTP, WebSocket, signals, adoption after a restart) run on ``local`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import psutil
import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from websockets.asyncio.client import connect

from libs.testing.podman import Engine
from services.lifecycle.backends import (
    ComputeBackend,
    Handle,
    LaunchError,
    LaunchSpec,
    LocalBackend,
    SessionState,
    Status,
)
from services.lifecycle.backends.docker import DockerBackend
from services.lifecycle.backends.fake import (
    CrashingBackend,
    FailingBackend,
    FakeBackend,
    NeverReadyBackend,
    SlowBackend,
)
from services.lifecycle.backends.kube import KubernetesBackend
from tests.integration.kube_cluster import Cluster, kube_cluster  # noqa: F401 - the fixture

SECRET = "s3cret-for-tests"


def make_spec(tmp_path: Path, tool: str = "http-echo", command: list[str] | None = None,
              environment: dict[str, str] | None = None, memory_mib: int | None = None,
              cpu: int | None = None, session_id: str = "st1-1") -> LaunchSpec:
    return LaunchSpec(session_id=session_id, studio_id="st1", tool=tool, command=command,
                      environment=environment or {}, memory_mib=memory_mib, cpu=cpu,
                      workspace_dir=tmp_path / "workspaces" / session_id, base_path=f"/connect/{session_id}/",
                      secret=SECRET)


@pytest.fixture(params=["fake", "local", "docker", "kubernetes"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ComputeBackend]:
    backend: ComputeBackend
    if request.param == "docker":  # skips, saying why, where no Docker-API engine can be had
        engine: Engine = request.getfixturevalue("docker_engine")
        backend = DockerBackend(tmp_path / "state", engine.url, default_image=engine.image, scope=tmp_path.name)
    elif request.param == "kubernetes":  # skips, saying why, unless KUBECONFIG names a cluster that answers
        cluster: Cluster = request.getfixturevalue("kube_cluster")
        backend = KubernetesBackend(tmp_path / "state", cluster.namespace, kubeconfig=cluster.kubeconfig,
                                    default_image=cluster.image, scope=tmp_path.name)
    else:
        backend = FakeBackend() if request.param == "fake" else LocalBackend(tmp_path / "state")
    yield backend
    for handle in await backend.list_sessions():  # no test may leave a process behind
        await backend.stop(handle, grace=1.0)
    if isinstance(backend, KubernetesBackend):  # the studio's claim outlives its runs: not the test's
        with contextlib.suppress(ApiException):  # none made (a refused launch)
            await (await backend.api()).core.delete_namespaced_persistent_volume_claim("studios-ws-st1",
                                                                                       backend.namespace)
    if isinstance(backend, DockerBackend | KubernetesBackend):
        await backend.close()


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "state", grace=5.0)
    yield backend
    for handle in list(backend.records.handles()):  # ended ones too: their cgroups go with the stop
        await backend.stop(handle, grace=1.0)


async def test_launch_ready_inspect_stop(backend: ComputeBackend, tmp_path: Path) -> None:
    handle = await backend.launch(make_spec(tmp_path))
    assert await backend.ready(handle, timeout=10)
    assert (await backend.inspect(handle)).state is SessionState.RUNNING
    assert handle in await backend.list_sessions()

    await backend.stop(handle, grace=5)

    assert (await backend.inspect(handle)).state in (SessionState.MISSING, SessionState.EXITED)
    assert handle not in await backend.list_sessions()
    assert await backend.stop(handle) is None  # idempotent: stopping a gone session is fine


async def test_wait_returns_once_the_tool_ends_with_its_code_and_last_lines(backend: ComputeBackend,
                                                                            tmp_path: Path) -> None:
    spec = make_spec(tmp_path, tool="custom", command=["sh", "-c", "echo first; echo last; exit 7"])
    handle = await backend.launch(spec)
    if isinstance(backend, FakeBackend):
        backend.output_by_session[handle.session_id] = b"first\nlast\n"
        asyncio.get_running_loop().call_soon(backend.crash, handle, 7)

    status = await asyncio.wait_for(backend.wait(handle), 10)

    assert (status.state, status.exit_code) == (SessionState.EXITED, 7)
    assert status.message.splitlines()[-2:] == ["first", "last"]
    await backend.stop(handle)
    used = await backend.usage(handle)  # a stopped run still tells what it used, once
    assert used is not None or isinstance(backend, KubernetesBackend)  # metrics.k8s.io: a 15 s sample at best
    assert (await backend.wait(handle)).state is not SessionState.RUNNING  # a gone session returns at once


async def test_launch_twice_returns_the_same_session(backend: ComputeBackend, tmp_path: Path) -> None:
    first = await backend.launch(make_spec(tmp_path))
    assert await backend.launch(make_spec(tmp_path)) == first


async def test_unknown_tool_is_refused(backend: ComputeBackend, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tool"):
        await backend.launch(make_spec(tmp_path, tool="nope"))


async def test_http_needs_the_secret(local: LocalBackend, tmp_path: Path) -> None:
    handle = await local.launch(make_spec(tmp_path))
    assert await local.ready(handle, timeout=10)
    async with httpx.AsyncClient(base_url=handle.url, trust_env=False) as client:
        allowed = await client.get("/connect/st1-1/x?y=1", headers={"X-Studios-Secret": SECRET})
        denied = await client.get("/connect/st1-1/x")
        posted = await client.post("/p", content=b"hello", headers={"X-Studios-Secret": SECRET})
    assert allowed.status_code == 200
    assert allowed.json() | {"headers": {}} == {
        "path": "/connect/st1-1/x", "query": "y=1", "session": "st1-1", "method": "GET", "headers": {}, "body": "",
    }
    assert "x-studios-secret" not in allowed.json()["headers"]
    assert denied.status_code == 403
    assert posted.json()["body"] == "hello"


async def test_http_echo_reads_chunked_bodies(local: LocalBackend, tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"hel"
        yield b"lo"

    handle = await local.launch(make_spec(tmp_path))
    assert await local.ready(handle, timeout=10)
    async with httpx.AsyncClient(base_url=handle.url, trust_env=False) as client:
        posted = await client.post("/p", content=body(), headers={"X-Studios-Secret": SECRET})
    assert posted.json()["body"] == "hello"


async def test_websocket_echo_needs_the_secret(local: LocalBackend, tmp_path: Path) -> None:
    handle = await local.launch(make_spec(tmp_path))
    assert await local.ready(handle, timeout=10)
    url = f"ws://{handle.host}:{handle.port}/connect/st1-1/ws"
    async with connect(url, additional_headers={"X-Studios-Secret": SECRET}) as ws:
        await ws.send("ping")
        assert await ws.recv() == "ping"
        await ws.send(b"\x00bin")
        assert await ws.recv() == b"\x00bin"
    with pytest.raises(Exception, match="403"):
        async with connect(url):
            pass


async def test_a_new_backend_on_the_same_state_dir_adopts_live_sessions(local: LocalBackend, tmp_path: Path) -> None:
    handle = await local.launch(make_spec(tmp_path))
    restarted = LocalBackend(local.state_dir)
    stored = Handle.from_dict(handle.to_dict())  # as read back from the event after a restart

    assert await restarted.list_sessions() == [stored]
    assert await restarted.ready(stored, timeout=10)
    assert (await restarted.inspect(stored)).state is SessionState.RUNNING
    await restarted.stop(stored, grace=5)
    assert not psutil.pid_exists(int(handle.ident)) or _is_zombie(int(handle.ident))


async def test_a_session_outlives_the_process_that_launched_it(local: LocalBackend, tmp_path: Path) -> None:
    launcher = (
        "import asyncio, sys; from pathlib import Path;"
        "from services.lifecycle.backends import LocalBackend, LaunchSpec;"
        "spec = LaunchSpec(session_id='st1-1', studio_id='st1', tool='http-echo', workspace_dir=Path(sys.argv[2]),"
        " base_path='/connect/st1-1/', secret='s');"
        "asyncio.run(LocalBackend(Path(sys.argv[1])).launch(spec))"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", launcher, str(local.state_dir),
                                                   str(tmp_path / "ws"))
    assert await process.wait() == 0

    [adopted] = await local.list_sessions()
    assert await local.ready(adopted, timeout=10)
    assert await local.stop(adopted, grace=5) is None  # not our child: the exit code is unknowable
    assert _group(int(adopted.ident)) == []


async def test_a_reused_pid_is_neither_adopted_nor_killed(local: LocalBackend, tmp_path: Path) -> None:
    bystander = await asyncio.create_subprocess_exec("sleep", "30", start_new_session=True)
    try:
        created = psutil.Process(bystander.pid).create_time()
        stale = Handle("st1-1", "local", str(bystander.pid), "127.0.0.1", 1, created - 100)
        (local.state_dir / "sessions").mkdir(parents=True)
        (local.state_dir / "sessions" / "st1-1.json").write_text(json.dumps(stale.to_dict()))

        assert await local.list_sessions() == []
        assert (await local.inspect(stale)).state is SessionState.EXITED
        await local.stop(stale, grace=1)
        assert bystander.returncode is None and psutil.Process(bystander.pid).is_running()
    finally:
        bystander.kill()
        await bystander.wait()


async def test_stop_kills_the_whole_process_group(local: LocalBackend, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, tool="custom", command=["sh", "-c", "sleep 300 & sleep 300"])
    handle = await local.launch(spec)
    pgid = int(handle.ident)
    await _until(lambda: len(_group(pgid)) >= 2)

    await local.stop(handle, grace=5)

    assert _group(pgid) == []


async def test_sigkill_after_grace_when_sigterm_is_ignored(local: LocalBackend, tmp_path: Path) -> None:
    code = ("import signal, time; signal.signal(signal.SIGTERM, lambda *_: print('term', flush=True));"
            "print('armed', flush=True)\nwhile True: time.sleep(1)")
    handle = await local.launch(make_spec(tmp_path, tool="custom", command=[sys.executable, "-c", code]))
    await _until(lambda: b"armed" in _read(local.log_path(handle.session_id)))

    exit_code = await local.stop(handle, grace=1)

    assert b"term" in _read(local.log_path(handle.session_id))  # it was asked first, and survived the asking
    assert exit_code == -9
    assert _group(int(handle.ident)) == []


async def test_a_tool_that_dies_is_not_ready_and_reports_its_exit_code(local: LocalBackend, tmp_path: Path) -> None:
    spec = make_spec(tmp_path, tool="custom", command=[sys.executable, "-c", "raise SystemExit(3)"])
    handle = await local.launch(spec)
    assert not await local.ready(handle, timeout=10)
    status = await local.inspect(handle)
    assert (status.state, status.exit_code) == (SessionState.EXITED, 3)
    assert await local.stop(handle) == 3


async def test_environment_markers_and_no_leaked_parent_env(local: LocalBackend, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://control-plane-secret")
    code = "import os; print(sorted(os.environ)); print(os.getcwd())"
    spec = make_spec(tmp_path, tool="custom", command=[sys.executable, "-c", code], environment={"MY_VAR": "1"})
    handle = await local.launch(spec)
    await _until(lambda: _read(local.log_path(handle.session_id)).count(b"\n") >= 2)
    await local.stop(handle)
    output = b"".join([chunk async for chunk in local.output(handle)]).decode()

    for name in ("CONNECT_TOOL_PORT", "STUDIOS_SESSION_ID", "STUDIOS_SESSION_SECRET", "STUDIOS_BASE_PATH", "MY_VAR"):
        assert f"'{name}'" in output
    assert "DATABASE_URL" not in output
    assert output.splitlines()[1] == str(spec.workspace_dir)


async def test_output_is_captured_to_a_file(local: LocalBackend, tmp_path: Path) -> None:
    handle = await local.launch(make_spec(tmp_path))
    assert await local.ready(handle, timeout=10)
    await local.stop(handle)
    assert b"http_echo listening" in b"".join([chunk async for chunk in local.output(handle)])


@pytest.mark.jupyter
async def test_jupyterlab_answers_with_the_token(local: LocalBackend, tmp_path: Path) -> None:
    handle = await local.launch(make_spec(tmp_path, tool="jupyter"))
    started = time.monotonic()
    assert await local.ready(handle, timeout=60), _read(local.log_path(handle.session_id)).decode()[-2000:]
    print(f"jupyterlab ready in {time.monotonic() - started:.1f}s")
    status_url = f"{handle.url}/connect/st1-1/api/status"
    # Separate requests, no shared client: Jupyter answers a token with a login cookie a client would replay.
    with_token = await _get(status_url, {"Authorization": f"token {SECRET}"})
    without = await _get(status_url, {})
    assert with_token.status_code == 200
    assert without.status_code == 403
    await local.stop(handle, grace=10)
    assert _group(int(handle.ident)) == []


# -- helpers -------------------------------------------------------------------------------------------------


def _group(pgid: int) -> list[int]:
    """Live (non-zombie) processes in the process group."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except OSError:
            pass
    return found


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _get(url: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(url, headers=headers)


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# -- the misbehaving fakes do what their names say -------------------------------------------------------------


async def test_slow_backend_is_ready_only_after_its_delay(tmp_path: Path) -> None:
    backend = SlowBackend(delay=0.2)
    handle = await backend.launch(make_spec(tmp_path))
    assert not await backend.ready(handle, timeout=0.05)
    assert await backend.ready(handle, timeout=1)


async def test_never_ready_crashing_and_failing_backends(tmp_path: Path) -> None:
    never = NeverReadyBackend()
    assert not await never.ready(await never.launch(make_spec(tmp_path)), timeout=0.01)
    crashing = CrashingBackend(exit_code=7)
    crashed = await crashing.launch(make_spec(tmp_path))
    assert not await crashing.ready(crashed, timeout=1)
    assert await crashing.inspect(crashed) == Status(SessionState.EXITED, 7)
    with pytest.raises(LaunchError):
        await FailingBackend().launch(make_spec(tmp_path))


async def test_a_missing_executable_is_a_launch_error(local: LocalBackend, tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="no-such-tool"):
        await local.launch(make_spec(tmp_path, tool="custom", command=["/no-such-tool"]))
