"""The local backend's limits are real: a session cgroup (cpu quota, resident memory) where one is writable, else
affinity spread over cores and RLIMIT_AS; whatever a session starts goes with it; each run reports its usage."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest

from services.lifecycle.backends import LaunchSpec, LocalBackend, SessionState, processes
from services.lifecycle.backends.cgroups import SessionGroup

SPIN = "import time\nwhile True: pass"


def spec(tmp_path: Path, command: list[str], session_id: str = "lim-1", cpu: int | None = None,
         memory_mib: int | None = None) -> LaunchSpec:
    return LaunchSpec(session_id=session_id, studio_id="lim", tool="custom", command=command, cpu=cpu,
                      memory_mib=memory_mib, workspace_dir=tmp_path / "ws" / session_id,
                      base_path=f"/connect/{session_id}/", secret="s")


@pytest.fixture
async def cgrouped(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "state", grace=2)
    if backend.layout is None:
        pytest.skip("no writable cgroup hierarchy on this machine")
    yield backend
    for handle in list(backend.records.handles()):  # ended ones too: their cgroups go with the stop
        await backend.stop(handle, grace=1)


@pytest.fixture
async def plain(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "plain", grace=2, cgroups=False)
    yield backend
    for handle in list(backend.records.handles()):  # ended ones too: their cgroups go with the stop
        await backend.stop(handle, grace=1)


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def group_of(backend: LocalBackend, session_id: str) -> SessionGroup:
    group = backend.records.group(session_id)
    assert group is not None
    return group


def cpu_stat(group: SessionGroup) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in (group.cpu / "cpu.stat").read_text().splitlines())}


async def test_a_session_cgroup_holds_its_cpu_quota_and_memory_limit(cgrouped: LocalBackend, tmp_path: Path) -> None:
    handle = await cgrouped.launch(spec(tmp_path, ["sleep", "300"], cpu=1, memory_mib=512))
    group = group_of(cgrouped, handle.session_id)
    if group.version == 2:
        assert (group.cpu / "cpu.max").read_text().split() == ["100000", "100000"]
        assert int((group.memory / "memory.max").read_text()) == 512 * 2**20
    else:
        period = int((group.cpu / "cpu.cfs_period_us").read_text())
        assert int((group.cpu / "cpu.cfs_quota_us").read_text()) == period
        assert int((group.memory / "memory.limit_in_bytes").read_text()) == 512 * 2**20
    assert int(handle.ident) in group.pids()
    assert psutil.Process(int(handle.ident)).cpu_affinity() == sorted(os.sched_getaffinity(0))  # not pinned
    assert handle.limits == f"limits: cgroup v{group.version}, cpu quota 1 core(s), memory 512 MiB resident"
    await cgrouped.stop(handle)
    assert not group.exists()  # the group goes with its session


async def test_the_sessions_together_weigh_as_much_as_their_cores(cgrouped: LocalBackend, tmp_path: Path) -> None:
    """Under contention cpu is shared by weight: the backend's folder must not weigh as one plain process."""
    one = await cgrouped.launch(spec(tmp_path, ["sleep", "300"], session_id="lim-1", cpu=1))
    two = await cgrouped.launch(spec(tmp_path, ["sleep", "300"], session_id="lim-2", cpu=2))
    group = group_of(cgrouped, two.session_id)
    weight, unit = ("cpu.weight", 100) if group.version == 2 else ("cpu.shares", 1024)
    assert int((group.cpu / weight).read_text()) == 2 * unit
    assert int((group.cpu.parent / weight).read_text()) == 3 * unit
    await cgrouped.stop(one)
    assert int((group.cpu.parent / weight).read_text()) == 2 * unit
    await cgrouped.stop(two)


async def test_the_cpu_quota_throttles_two_busy_processes_to_one_core(cgrouped: LocalBackend, tmp_path: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to tell a one-core quota from the machine's own limit")
    command = ["sh", "-c", f"{sys.executable} -c '{SPIN}' & exec {sys.executable} -c '{SPIN}'"]
    handle = await cgrouped.launch(spec(tmp_path, command, cpu=1))
    group = group_of(cgrouped, handle.session_id)
    await until(lambda: (group.cpu_seconds() or 0) >= 0.3)
    if group.version == 1:
        await until(lambda: cpu_stat(group)["nr_throttled"] > 0, within=90)  # other load can starve it a while
    else:
        await until(lambda: cpu_stat(group).get("nr_throttled", 0) > 0, within=90)
    await cgrouped.stop(handle)


async def test_memory_is_a_resident_limit(cgrouped: LocalBackend, tmp_path: Path) -> None:
    grab = "x = bytearray(300 * 2**20); print('survived', flush=True)"
    handle = await cgrouped.launch(spec(tmp_path, [sys.executable, "-c", grab], memory_mib=100))
    status = await asyncio.wait_for(cgrouped.wait(handle), 30)
    assert (status.state, status.exit_code) == (SessionState.EXITED, -9)  # the kernel's OOM killer
    assert "survived" not in status.message
    await cgrouped.stop(handle)
    usage = await cgrouped.usage(handle)
    assert usage is not None and 90 <= usage.peak_memory_mb <= 100


async def test_a_child_that_left_the_process_group_goes_with_its_session(cgrouped: LocalBackend,
                                                                          tmp_path: Path) -> None:
    handle = await cgrouped.launch(spec(tmp_path, ["sh", "-c", "setsid sleep 301 & exec sleep 300"]))
    group = group_of(cgrouped, handle.session_id)
    def escaped() -> list[int]:
        return [p for p in group.pids() if _pgid(p) not in (None, int(handle.ident))]

    await until(lambda: len(escaped()) == 1)
    [escaped_pid] = escaped()

    await cgrouped.stop(handle, grace=2)

    assert not psutil.pid_exists(escaped_pid) or psutil.Process(escaped_pid).status() == psutil.STATUS_ZOMBIE


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


async def test_usage_comes_from_cgroup_accounting(cgrouped: LocalBackend, tmp_path: Path) -> None:
    work = ("import time\nx = bytearray(64 * 2**20)\nfor i in range(0, len(x), 4096): x[i] = 1\n"
            "t = time.process_time()\nwhile time.process_time() - t < 0.6: pass\nprint('done', flush=True)\n"
            "time.sleep(300)")
    handle = await cgrouped.launch(spec(tmp_path, [sys.executable, "-c", work], cpu=1))
    await until(lambda: b"done" in cgrouped.log_path(handle.session_id).read_bytes())
    await cgrouped.stop(handle)
    usage = await cgrouped.usage(handle)
    assert usage is not None
    assert usage.peak_memory_mb >= 64
    assert 0 < usage.avg_cpu_millicores <= usage.peak_cpu_millicores
    assert await cgrouped.usage(handle) is None  # told once, then forgotten


async def test_without_cgroups_memory_is_an_address_space_limit(plain: LocalBackend, tmp_path: Path) -> None:
    probe = "import resource, time; print(resource.getrlimit(resource.RLIMIT_AS)[0], flush=True); time.sleep(300)"
    handle = await plain.launch(spec(tmp_path, [sys.executable, "-c", probe], memory_mib=4096))
    await until(lambda: plain.log_path(handle.session_id).read_bytes().strip() != b"")
    assert int(plain.log_path(handle.session_id).read_text().split()[0]) == 4096 * 2**20
    assert "memory as address space (RLIMIT_AS) 4096 MiB" in handle.limits
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 4096 * 2**20  # ours is untouched


async def test_without_cgroups_one_core_sessions_spread_over_the_cores(plain: LocalBackend, tmp_path: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores")
    handles = [await plain.launch(spec(tmp_path, ["sleep", "300"], session_id=f"lim-{i}", cpu=1))
               for i in range(len(cores))]
    pinned = sorted(psutil.Process(int(h.ident)).cpu_affinity()[0] for h in handles)
    assert pinned == cores  # one session per core, not all on core 0
    for handle in handles:
        assert f"cpu affinity to core(s) {psutil.Process(int(handle.ident)).cpu_affinity()[0]}" in handle.limits


async def test_without_cgroups_usage_is_sampled(plain: LocalBackend, tmp_path: Path) -> None:
    work = ("import time\nx = bytearray(32 * 2**20)\nfor i in range(0, len(x), 4096): x[i] = 1\n"
            "print('ready', flush=True)\ntime.sleep(300)")
    handle = await plain.launch(spec(tmp_path, [sys.executable, "-c", work]))
    await until(lambda: b"ready" in plain.log_path(handle.session_id).read_bytes())
    await plain.stop(handle)
    usage = await plain.usage(handle)
    assert usage is not None and usage.peak_memory_mb >= 32


async def test_what_an_unwatched_session_left_behind_is_stopped_when_found(tmp_path: Path) -> None:
    """The main process ended while no lifecycle watched it: the next listing stops what it left running."""
    backend = LocalBackend(tmp_path / "state", grace=2)
    handle = await backend.launch(spec(tmp_path, ["sh", "-c", "sleep 300 & echo started; exit 0"]))
    await until(lambda: b"started" in backend.log_path(handle.session_id).read_bytes())
    left = processes.group_members(int(handle.ident))
    await until(lambda: not processes.alive(handle))

    restarted = LocalBackend(tmp_path / "state", grace=2)  # as after a lifecycle restart

    assert await restarted.list_sessions() == []
    assert processes.live([p for p in left if psutil.pid_exists(p)]) == []
