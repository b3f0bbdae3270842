"""The supervisor against dummy services: restart with backoff, stop without leaving a process behind."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from libs.platform.services import ServiceSpec
from libs.platform.signals import FORCED_EXIT, SYSTEM_SHUTDOWN
from libs.platform.supervisor import Backoff, Supervisor

CRASHER = (sys.executable, "-c", "raise SystemExit(3)")

#: Writes its own pid and a grandchild's (same process group) to <dir>, then waits; SIGTERM exits, leaving the
#: grandchild for the supervisor to clean up.
OBEDIENT = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # before the pids file: the test signals once it exists
child = subprocess.Popen(["sleep", "300"])
open(os.path.join(sys.argv[1], "pids"), "w").write(f"{os.getpid()} {child.pid}")
time.sleep(300)
"""

#: Writes the name of the first stop signal it gets to <dir>/signal, then exits.
RECORDER = """
import os, signal, sys, time
def record(sig, _frame):
    open(os.path.join(sys.argv[1], "signal"), "w").write(signal.Signals(sig).name)
    sys.exit(0)
for sig in (signal.SIGTERM, signal.SIGUSR1):
    signal.signal(sig, record)
open(os.path.join(sys.argv[1], "pids"), "w").write(str(os.getpid()))
time.sleep(300)
"""

#: Crashes at once, unless started to take part in a system shutdown: then it says so in <dir>/shutdown and exits.
SHUTDOWN_ONLY = """
import os, sys
if os.environ.get("STUDIOS_SYSTEM_SHUTDOWN") != "1":
    sys.exit(1)
open(os.path.join(sys.argv[1], "shutdown"), "w").write("stopped what it owns")
"""

STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(os.path.join(sys.argv[1], "pids"), "w").write(str(os.getpid()))
time.sleep(300)
"""


def script(tmp_path: Path, name: str, source: str) -> tuple[str, ...]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    workdir = tmp_path / name
    workdir.mkdir()
    return (sys.executable, str(path), str(workdir))


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def wait_for_file(path: Path, unlike: str = "") -> str:
    """The file's text once it exists (and differs from ``unlike``): a bounded poll on the condition."""
    for _ in range(500):
        if (text := read(path)) and text != unlike:
            return text
        await asyncio.sleep(0.02)
    raise TimeoutError(path)


async def wait_gone(*pids: int) -> None:
    for _ in range(500):
        if all(gone(p) for p in pids):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still running: {[p for p in pids if not gone(p)]}")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def run_until(supervisor: Supervisor, done: Callable[[], bool]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    for _ in range(600):
        if done():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert done()


def test_the_delay_doubles_up_to_the_cap() -> None:
    b = Backoff(initial=0.5, factor=2, cap=3)
    assert [b.after(d) for d in (0.5, 1, 2, 3)] == [1, 2, 3, 3]


async def test_a_crashing_service_is_restarted_with_growing_delays(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="studios.supervisor")
    backoff = Backoff(initial=0.1, factor=2, cap=0.4, reset_after=60)
    sup = Supervisor([ServiceSpec("crasher", argv=CRASHER)], backoff=backoff)
    await run_until(sup, lambda: sup.states["crasher"].restarts >= 4)
    state = sup.states["crasher"]
    assert state.restarts >= 4 and state.last_exit == 3
    assert state.delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert "service crasher exited with code 3" in caplog.text
    assert "restart #2 in 0.2s" in caplog.text


async def test_a_run_longer_than_reset_after_restarts_at_the_initial_delay(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="studios.supervisor")
    sup = Supervisor([ServiceSpec("crasher", argv=CRASHER)], backoff=Backoff(initial=0.1, cap=5, reset_after=0))
    await run_until(sup, lambda: sup.states["crasher"].restarts >= 3)
    assert sup.states["crasher"].restarts >= 3
    assert set(sup.states["crasher"].delays) == {0.1}
    assert "in 0.2s" not in caplog.text


async def test_stop_terminates_each_service_and_its_process_group(tmp_path: Path) -> None:
    argv = script(tmp_path, "obedient", OBEDIENT)
    # A grace period far beyond the test's own bound: finishing at all shows the stop did not wait for it.
    sup = Supervisor([ServiceSpec("obedient", argv=argv, grace_seconds=600)])
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    service_pid, grandchild_pid = map(int, (await wait_for_file(tmp_path / "obedient" / "pids")).split())
    assert not gone(grandchild_pid)
    stop.set()
    await asyncio.wait_for(task, 60)
    # exit code 0: the service ended on SIGTERM itself; a SIGKILL after the grace period would be -9
    assert sup.states["obedient"].last_exit == 0 and sup.states["obedient"].restarts == 0
    await wait_gone(service_pid, grandchild_pid)


async def test_a_system_shutdown_sends_each_service_its_shutdown_signal(tmp_path: Path) -> None:
    plain, lifecycle_like = script(tmp_path, "plain", RECORDER), script(tmp_path, "lifecycle", RECORDER)
    sup = Supervisor([ServiceSpec("plain", argv=plain),
                      ServiceSpec("lifecycle", argv=lifecycle_like, shutdown_signal=SYSTEM_SHUTDOWN)])
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    for name in ("plain", "lifecycle"):
        await wait_for_file(tmp_path / name / "pids")
    stop.set()
    await asyncio.wait_for(task, 60)
    assert read(tmp_path / "plain" / "signal") == "SIGTERM"
    assert read(tmp_path / "lifecycle" / "signal") == SYSTEM_SHUTDOWN.name


#: On SIGTERM, writes whether the front service (its path is argv[2]) had already exited: "after" or "before".
BACKEND = """
import os, signal, sys, time
def record(sig, _frame):
    front_done = os.path.exists(os.path.join(sys.argv[2], "signal"))
    open(os.path.join(sys.argv[1], "order"), "w").write("after" if front_done else "before")
    sys.exit(0)
signal.signal(signal.SIGTERM, record)
open(os.path.join(sys.argv[1], "pids"), "w").write(str(os.getpid()))
time.sleep(300)
"""


async def test_a_system_shutdown_stops_the_front_tier_before_the_services_behind_it(tmp_path: Path) -> None:
    front = script(tmp_path, "front", RECORDER)
    back = (*script(tmp_path, "back", BACKEND), str(tmp_path / "front"))
    sup = Supervisor([ServiceSpec("back", argv=back), ServiceSpec("front", argv=front, stop_tier=0)])
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    for name in ("front", "back"):
        await wait_for_file(tmp_path / name / "pids")
    stop.set()
    await asyncio.wait_for(task, 60)
    assert read(tmp_path / "front" / "signal") == "SIGTERM"
    assert read(tmp_path / "back" / "order") == "after"  # signalled only once the front had stopped


async def test_a_service_that_is_down_at_shutdown_is_started_once_to_stop_what_it_owns(tmp_path: Path) -> None:
    argv = script(tmp_path, "owner", SHUTDOWN_ONLY)
    # a long backoff: when the system shuts down, the service is down, waiting for its restart
    sup = Supervisor([ServiceSpec("owner", argv=argv, owns_lasting_work=True)], backoff=Backoff(initial=600))
    await run_until(sup, lambda: sup.states["owner"].restarts >= 1)
    assert read(tmp_path / "owner" / "shutdown") == "stopped what it owns"
    assert sup.states["owner"].last_exit == 0


async def test_a_service_stopped_from_outside_with_sigterm_is_restarted(tmp_path: Path) -> None:
    argv = script(tmp_path, "obedient", OBEDIENT)
    sup = Supervisor([ServiceSpec("obedient", argv=argv)], backoff=Backoff(initial=0.05))
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    pids = tmp_path / "obedient" / "pids"
    first = await wait_for_file(pids)
    psutil.Process(int(first.split()[0])).send_signal(signal.SIGTERM)  # a restart of this one service
    second = await wait_for_file(pids, unlike=first)
    stop.set()
    await asyncio.wait_for(task, 60)
    assert sup.states["obedient"].restarts == 1 and second.split()[0] != first.split()[0]


async def test_a_service_that_ignores_sigterm_is_killed_after_its_grace_period(tmp_path: Path) -> None:
    argv = script(tmp_path, "stubborn", STUBBORN)
    sup = Supervisor([ServiceSpec("stubborn", argv=argv, grace_seconds=0.5)])
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    pid = int(await wait_for_file(tmp_path / "stubborn" / "pids"))  # written after SIGTERM is ignored
    stop.set()
    await asyncio.wait_for(task, 15)
    assert sup.states["stubborn"].last_exit == -9
    assert gone(pid)


async def test_cancelling_the_supervisor_kills_everything_at_once(tmp_path: Path) -> None:
    argv = script(tmp_path, "stubborn", STUBBORN)
    sup = Supervisor([ServiceSpec("stubborn", argv=argv, grace_seconds=60)])
    task = asyncio.create_task(sup.run(asyncio.Event()))
    pid = int(await wait_for_file(tmp_path / "stubborn" / "pids"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert gone(pid)


#: A service main that drains for a moment after the stop event, or hangs until forced when told to.
SIGNALLED = """
import asyncio, sys
from libs.platform.signals import run_until_signalled

async def main(stop):
    print("ready", flush=True)
    await stop.wait()
    print("stopping", stop.system_shutdown, flush=True)
    if sys.argv[1] == "hang":
        await asyncio.Event().wait()
    print("drained", flush=True)

sys.exit(run_until_signalled(main))
"""


async def start_signalled(mode: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SIGNALLED, mode,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"ready\n"
    return proc


async def test_sigterm_sets_the_stop_event_and_the_service_drains() -> None:
    proc = await start_signalled("drain")
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert (proc.returncode, out) == (0, b"stopping False\ndrained\n")


async def test_the_system_shutdown_signal_says_so_on_the_stop_event() -> None:
    proc = await start_signalled("drain")
    proc.send_signal(SYSTEM_SHUTDOWN)
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert (proc.returncode, out) == (0, b"stopping True\ndrained\n")


async def test_a_second_signal_forces_the_exit() -> None:
    proc = await start_signalled("hang")
    assert proc.stdout is not None
    proc.send_signal(signal.SIGINT)
    # the first signal was handled (the service is now hanging in its drain), and did not end the process
    assert await asyncio.wait_for(proc.stdout.readline(), 10) == b"stopping False\n"
    assert proc.returncode is None
    proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert (proc.returncode, out) == (FORCED_EXIT, b"")


#: A signal that arrives while the service is still starting (before its loop's handlers exist) is held, not fatal.
EARLY = """
import os, sys
from libs.platform.signals import SYSTEM_SHUTDOWN, hold_signals, run_until_signalled
hold_signals()
os.kill(os.getpid(), SYSTEM_SHUTDOWN)  # as if the supervisor stopped the system during our imports

async def main(stop):
    await stop.wait()
    print("stopping", stop.system_shutdown, flush=True)

sys.exit(run_until_signalled(main))
"""


async def test_a_stop_signal_during_start_up_is_held_until_the_service_serves() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", EARLY, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert (proc.returncode, out) == (0, b"stopping True\n")
