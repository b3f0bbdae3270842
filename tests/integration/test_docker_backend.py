"""What only the Docker backend does, against a real Docker-API engine (DOCKER_HOST, else a private podman service;
skipped with the reason when neither can be had). The shared contract is in test_backend_contract.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import pytest

from libs.testing.podman import Engine
from libs.testing.waiting import wait_for
from services.lifecycle.backends import LaunchError, LaunchSpec, SessionState
from services.lifecycle.backends.containers import SPOT_WARNING, container_name, workspace_volume
from services.lifecycle.backends.docker import DockerBackend

SECRET = "s3cret-for-tests"


def spec_for(tmp_path: Path, command: list[str] | None = None, **extra: object) -> LaunchSpec:
    return LaunchSpec(session_id="st1-1", studio_id="st1", tool="custom" if command else "http-echo",
                      command=command, workspace_dir=tmp_path / "workspaces" / "st1", base_path="/connect/st1/",
                      secret=SECRET, labels={"user": "42"}, **extra)  # type: ignore[arg-type]


@pytest.fixture
async def docker(docker_engine: Engine, tmp_path: Path) -> AsyncIterator[DockerBackend]:
    backend = DockerBackend(tmp_path / "state", docker_engine.url, default_image=docker_engine.image,
                            scope=tmp_path.name, grace=5.0)
    yield backend
    for handle in await backend.list_sessions():
        await backend.stop(handle, grace=1.0)
    await backend.close()


async def _container(backend: DockerBackend, ident: str) -> dict[str, object]:
    info: dict[str, object] = await backend.engine.containers.container(ident).show()
    return info


async def test_container_has_the_labels_limits_and_a_port_on_loopback_only(docker: DockerBackend,
                                                                           tmp_path: Path) -> None:
    handle = await docker.launch(spec_for(tmp_path, cpu=1, memory_mib=64))
    info = await _container(docker, handle.ident)
    labels = info["Config"]["Labels"]  # type: ignore[index]
    host = info["HostConfig"]
    assert {k: labels[k] for k in ("studios.studio", "studios.session", "studios.owner")} == {  # type: ignore[index]
        "studios.studio": "st1", "studios.session": "st1-1", "studios.owner": "42"}
    assert (host["NanoCpus"], host["Memory"]) == (1_000_000_000, 64 * 2**20)  # type: ignore[index]
    bound = info["NetworkSettings"]["Ports"]["8080/tcp"]  # type: ignore[index]
    assert {b["HostIp"] for b in bound} == {"127.0.0.1"} and handle.port == int(bound[0]["HostPort"])
    assert handle.limits == "container limits: 1 cpu, 64 MiB"
    assert await docker.ready(handle, timeout=20)


async def test_the_workspace_is_the_studios_folder_on_the_host(docker: DockerBackend, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, ["sh", "-c", "echo written-inside > /workspace/notes.txt; pwd"])
    handle = await docker.launch(spec)
    status = await asyncio.wait_for(docker.wait(handle), 20)
    assert (status.exit_code, status.message) == (0, "/workspace")
    assert (spec.workspace_dir / "notes.txt").read_text() == "written-inside\n"  # what checkpoints read


async def test_data_links_are_mounted_read_only(docker: DockerBackend, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.mkdir()
    (link / "data.csv").write_text("a,b\n")
    script = "cat /workspace/data/mylink/data.csv; if echo x > /workspace/data/mylink/new; then exit 1; fi; exit 5"
    spec = spec_for(tmp_path, ["sh", "-c", script])
    spec = LaunchSpec(**{**spec.__dict__, "read_only_mounts": ((str(link), str(spec.workspace_dir / "data/mylink")),)})
    status = await asyncio.wait_for(docker.wait(await docker.launch(spec)), 20)
    assert status.exit_code == 5, status.message  # it read the file, and the write was refused
    assert "a,b" in status.message and not (link / "new").exists()


async def test_a_new_backend_adopts_live_sessions_by_their_labels(docker: DockerBackend, tmp_path: Path) -> None:
    handle = await docker.launch(spec_for(tmp_path))
    restarted = DockerBackend(docker.state_dir, docker.url, scope=docker.scope)
    other = DockerBackend(tmp_path / "other", docker.url, scope="another-installation")
    try:
        assert await restarted.list_sessions() == [handle]
        assert await other.list_sessions() == []  # scope: another control plane's containers are not ours
        assert await restarted.ready(handle, timeout=20)
        await restarted.stop(handle, grace=5)
        assert (await restarted.inspect(handle)).state is SessionState.MISSING
    finally:
        await restarted.close()
        await other.close()


async def test_sigkill_after_grace_when_sigterm_is_ignored(docker: DockerBackend, tmp_path: Path) -> None:
    script = "trap 'echo term' TERM; echo armed; while :; do sleep 0.2; done"
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", script]))
    log = docker.log_path(handle.session_id)
    await wait_for(lambda: asyncio.to_thread(lambda: log.exists() and b"armed" in log.read_bytes()),
                   until=bool, within=20, every=0.1)

    assert await docker.stop(handle, grace=1) == -9
    assert b"term" in log.read_bytes()  # asked first, and survived the asking


async def test_output_reaches_the_session_log_once_even_after_a_restart(docker: DockerBackend,
                                                                        tmp_path: Path) -> None:
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", "echo one; echo two; sleep 300"]))
    log = docker.log_path(handle.session_id)
    await wait_for(lambda: asyncio.to_thread(lambda: log.exists() and log.read_bytes().count(b"\n") >= 2),
                   until=bool, within=20, every=0.1)
    restarted = DockerBackend(docker.state_dir, docker.url, scope=docker.scope)
    try:
        assert await restarted.list_sessions() == [handle]  # re-reads the container's log, skips what is there
        await restarted.stop(handle, grace=1)
        assert b"".join([chunk async for chunk in restarted.output(handle)]) == b"one\ntwo\n"
    finally:
        await restarted.close()


async def test_usage_comes_from_the_engines_stats(docker: DockerBackend, tmp_path: Path) -> None:
    handle = await docker.launch(spec_for(tmp_path, ["sh", "-c", "while :; do :; done"], cpu=1))
    await wait_for(lambda: _busy(docker, handle.ident),
                   until=bool, within=20, every=0.1)
    usage = await docker.usage(handle)
    assert usage is not None and usage.cpu_seconds and usage.cpu_seconds > 0
    await docker.stop(handle, grace=1)
    final = await docker.usage(handle)
    assert final is not None and final.peak_memory_mb >= 0 and final.avg_cpu_millicores > 0


async def _busy(docker: DockerBackend, ident: str) -> bool:
    stats = (await docker.engine.containers.container(ident).stats(stream=False))[0]
    return bool(stats["cpu_stats"]["cpu_usage"]["total_usage"] > 50_000_000)


async def test_spot_is_ignored_with_a_warning(docker: DockerBackend, tmp_path: Path) -> None:
    handle = await docker.launch(spec_for(tmp_path, spot=True))
    assert SPOT_WARNING in handle.limits


async def test_an_image_the_engine_cannot_get_is_a_launch_error(docker: DockerBackend, tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="no-such-image"):
        await docker.launch(spec_for(tmp_path, image="localhost:1/no-such-image:0"))
    with pytest.raises(aiodocker.DockerError):  # and nothing was left behind
        await docker.engine.containers.container(container_name("st1-1")).show()


async def test_concurrent_launches_of_one_run_make_one_container(docker: DockerBackend, tmp_path: Path) -> None:
    first, second = await asyncio.gather(docker.launch(spec_for(tmp_path)), docker.launch(spec_for(tmp_path)))
    assert first == second
    assert await docker.list_sessions() == [first]
    assert (await docker.inspect(first)).running


async def test_a_workspace_volume_in_use_stays_and_goes_once_its_container_has(docker: DockerBackend,
                                                                              tmp_path: Path) -> None:
    spec = spec_for(tmp_path, ["sh", "-c", "echo done > /workspace/out.txt"])
    handle = await docker.launch(spec)
    await asyncio.wait_for(docker.wait(handle), 20)  # ended, not removed: the container still names the volume
    name = workspace_volume(spec.studio_id, spec.workspace_dir)
    assert not await docker.forget_workspace(spec.studio_id, spec.workspace_dir)
    assert (await docker.engine.volumes.get(name)).name == name
    await docker.stop(handle)  # removes the container
    assert await docker.forget_workspace(spec.studio_id, spec.workspace_dir)
    with pytest.raises(aiodocker.DockerError) as gone:
        await docker.engine.volumes.get(name)
    assert gone.value.status == 404
    assert (spec.workspace_dir / "out.txt").read_text() == "done\n"  # the folder is the caller's to remove
    assert await docker.forget_workspace(spec.studio_id, spec.workspace_dir)  # again: nothing to do
