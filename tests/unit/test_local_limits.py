"""Pure parts of local limits and usage: which cores, what a run used, where the cgroups are, what a death says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from services.lifecycle.backends.base import SessionState, Status, Usage
from services.lifecycle.backends.cgroups import detect
from services.lifecycle.backends.limits import describe, least_loaded
from services.lifecycle.backends.usage import Meter
from services.lifecycle.sessions.watcher import ending


def test_one_core_sessions_go_to_the_core_with_fewest_sessions_then_the_least_busy() -> None:
    assert least_loaded([0, 1], 1, Counter(), [90.0, 10.0]) == [1]
    assert least_loaded([0, 1], 1, Counter({1: 1}), [90.0, 10.0]) == [0]
    assert least_loaded([0, 1, 2, 3], 2, Counter({0: 2, 1: 1}), [0.0] * 4) == [2, 3]
    assert least_loaded([0, 1], 1, Counter(), [0.0, 0.0]) == [0]  # ties by core number


def test_usage_peak_is_the_busiest_interval_and_the_average_covers_the_run() -> None:
    meter = Meter(started_at=100.0)
    meter.add(100.0, 0.0, 10 * 2**20)
    meter.add(101.0, 0.2, 50 * 2**20)  # 200 millicores
    meter.add(102.0, 1.7, 40 * 2**20)  # 1500: two busy cores
    meter.add(104.0, 1.7, 0, memory_peak=64 * 2**20)
    assert meter.usage() == Usage(peak_memory_mb=64, avg_cpu_millicores=425, peak_cpu_millicores=1500)


def test_usage_never_sampled_reports_its_average_as_its_peak() -> None:
    meter = Meter(started_at=0.0)
    meter.add(10.0, 5.0, None)
    assert meter.usage() == Usage(peak_memory_mb=0, avg_cpu_millicores=500, peak_cpu_millicores=500)


def test_usage_ignores_cpu_time_that_runs_back_when_a_process_vanishes() -> None:
    meter = Meter(started_at=0.0)
    meter.add(1.0, 2.0, None)
    meter.add(2.0, 0.5, None)  # the busy child ended: the group's live total dropped
    assert meter.cpu_seconds == 2.0


def _proc(tmp_path: Path, mounts: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mounts").write_text(mounts)
    (proc / "cgroup").write_text(cgroup)
    return proc


def test_v1_groups_are_made_below_our_own_cgroup_in_each_controller(tmp_path: Path) -> None:
    for name in ("cpu", "cpuacct", "memory/service"):
        (tmp_path / "cg" / name).mkdir(parents=True)
    mounts = "".join(f"cgroup {tmp_path}/cg/{c} cgroup rw,relatime,{c} 0 0\n" for c in ("cpu", "cpuacct", "memory"))
    proc = _proc(tmp_path, mounts, "4:memory:/service\n2:cpuacct:/\n1:cpu:/\n0::/\n")
    layout = detect(tmp_path / "state", root=proc)
    assert layout is not None and layout.version == 1
    assert layout.memory.parent == tmp_path / "cg" / "memory" / "service"
    assert layout.cpu.parent == tmp_path / "cg" / "cpu" and layout.cpu.name.startswith("studios-")
    assert layout.cpu.name != detect(tmp_path / "other-state", root=proc).cpu.name  # type: ignore[union-attr]
    assert not layout.cpu.exists()  # nothing is made before the first session


def test_read_only_or_missing_controllers_mean_no_cgroups(tmp_path: Path) -> None:
    mounts = f"cgroup {tmp_path}/cpu cgroup ro,relatime,cpu 0 0\ncgroup {tmp_path}/memory cgroup rw,memory 0 0\n"
    assert detect(tmp_path / "state", root=_proc(tmp_path, mounts, "1:cpu:/\n2:memory:/\n")) is None


def test_the_launch_step_says_which_enforcement_applied() -> None:
    assert describe(None, 1, 512, [1]) == ("limits: no writable cgroup, cpu affinity to core(s) 1, "
                                           "memory as address space (RLIMIT_AS) 2048 MiB")
    assert describe(None, None, None, None) == "limits: no writable cgroup, cpu not limited, memory not limited"


def test_a_death_says_its_code_or_signal_and_last_lines() -> None:
    assert ending(Status(SessionState.EXITED, 7, "a\nb")) == (
        "The tool exited with code 7. Last output:\na\nb", "the tool exited with code 7 on its own")
    assert ending(Status(SessionState.EXITED, -9)) == ("The tool was killed by signal 9.",
                                                       "the tool was killed by signal 9 on its own")
    assert ending(Status(SessionState.EXITED, None))[0] == "The tool exited (exit code unknown)."
