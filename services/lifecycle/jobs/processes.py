"""A job's process on this host: its folder, the wrapper that records its pid and exit code, and stopping it.

Each attempt has ``<jobs>/<job_id>/`` as working directory (the script, the uploaded files beside it) and
``.studios/<attempt>/`` for what the wrapper writes: ``pid`` first, then the script's output in ``output.log``,
then ``exit`` with its exit code. A ``launched`` marker is written before the spawn: a lifecycle killed around the
spawn finds either a pid (the process runs or ran: adopt it, never start it again) or no marker (nothing was
spawned: launch it). The wrapper runs in its own session (process group), so a lifecycle restart never stops a
job, and a cancel signals the whole group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psutil

from libs.contracts.job import JobSpec, QueryType

CREATE_TIME_SLACK = 1.0
# The script's exit code goes to a file by rename, so a reader never sees half of it.
WRAPPER = ('echo $$ > "$D/pid"; "$@" > "$D/output.log" 2>&1 < /dev/null; c=$?; '
           'echo $c > "$D/exit.tmp"; mv "$D/exit.tmp" "$D/exit"')


@dataclass(frozen=True)
class Proc:
    pid: int
    started_at: float


def work_dir(root: Path, job_id: str) -> Path:
    return root / job_id


def run_dir(root: Path, job_id: str, attempt: int) -> Path:
    return work_dir(root, job_id) / ".studios" / str(attempt)


def _script(spec: JobSpec, python: str | None) -> tuple[str, list[str]]:
    if spec.query_type == QueryType.SHELL:
        return "main.sh", ["/bin/sh", "main.sh"]
    return "main.py", [python or sys.executable, "-u", "main.py"]  # -u: output reaches the log as it is printed


def _copy_file(uri: str, into: Path, filename: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme != "file":
        raise ValueError(f"cannot fetch {uri}: only file:// uploads are served by the local backend")
    shutil.copyfile(unquote(parts.path), into / Path(filename).name)


def launch(root: Path, job_id: str, attempt: int, spec: JobSpec, extra_env: dict[str, str],
           python_env: Path | None = None) -> Proc:
    """Write the script and files, mark the attempt launched, spawn the wrapper. Blocking (small files).
    ``python_env``: the venv its requirements were built into (the builder's), first on ``PATH``."""
    wd, rd = work_dir(root, job_id), run_dir(root, job_id, attempt)
    rd.mkdir(parents=True, exist_ok=True)
    name, argv = _script(spec, str(python_env / "bin" / "python") if python_env else None)
    (wd / name).write_text(spec.query)
    for f in spec.files:
        _copy_file(f.uri, wd, f.filename)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDIOS_", "DATABASE_URL", "NATS_URL"))}
    env.update(spec.environment)
    env.update(extra_env)
    if python_env is not None:
        env["VIRTUAL_ENV"] = str(python_env)
        env["PATH"] = f"{python_env / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["D"] = str(rd)
    (rd / "launched").write_text(str(os.getpid()))
    child = subprocess.Popen(["/bin/sh", "-c", WRAPPER, "sh", *argv], cwd=wd, env=env, start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _CHILDREN[child.pid] = child
    try:
        created = psutil.Process(child.pid).create_time()
    except psutil.Error:
        created = 0.0  # ended already; its exit file says how
    return Proc(child.pid, created)


# Only the parent can reap a child: the ones this process spawned, so a finished one is not left a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def launched(root: Path, job_id: str, attempt: int) -> bool:
    return (run_dir(root, job_id, attempt) / "launched").exists()


def _pid_file(root: Path, job_id: str, attempt: int) -> tuple[int, float] | None:
    """The pid the attempt's wrapper wrote and when it wrote it; None when it wrote none (yet)."""
    path = run_dir(root, job_id, attempt) / "pid"
    try:
        return int(path.read_text().strip()), path.stat().st_mtime
    except (OSError, ValueError):
        return None


def recorded_pid(root: Path, job_id: str, attempt: int) -> Proc | None:
    """The attempt's live process (None when it wrote no pid or the process is gone)."""
    written = _pid_file(root, job_id, attempt)
    if written is None:
        return None
    try:
        return Proc(written[0], psutil.Process(written[0]).create_time())
    except (ValueError, psutil.Error):  # psutil refuses a negative pid with ValueError
        return None


def ended_pid(root: Path, job_id: str, attempt: int) -> Proc | None:
    """The pid an ended attempt's wrapper wrote, started when that file was written; None when it wrote none."""
    written = _pid_file(root, job_id, attempt)
    return Proc(*written) if written is not None else None


async def wait_for_pid(root: Path, job_id: str, attempt: int, within: float) -> Proc | None:
    """The attempt's process: one marked launched may take a moment to write its pid (bounded by ``within``);
    None when it never was launched, or ended, or wrote none in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        proc = recorded_pid(root, job_id, attempt)
        if proc is not None or not launched(root, job_id, attempt):
            return proc
        if exit_code(root, job_id, attempt) is not None or loop.time() > deadline:
            return None
        await asyncio.sleep(0.05)


def exit_code(root: Path, job_id: str, attempt: int) -> int | None:
    try:
        return int((run_dir(root, job_id, attempt) / "exit").read_text().strip())
    except (OSError, ValueError):
        return None


def alive(proc: Proc) -> bool:
    child = _CHILDREN.get(proc.pid)
    if child is not None:
        if child.poll() is None:
            return True
        _CHILDREN.pop(proc.pid, None)
        return False
    try:
        p = psutil.Process(proc.pid)
        return abs(p.create_time() - proc.started_at) < CREATE_TIME_SLACK and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def signal_code(proc: Proc) -> int | None:
    """A spawned child's return code (negative: the signal that ended it), once it ended."""
    child = _CHILDREN.get(proc.pid)
    return None if child is None else child.returncode


async def stop(proc: Proc, grace: float) -> None:
    """SIGTERM to the job's process group, SIGKILL after ``grace`` seconds if anything of it still runs."""
    if not alive(proc):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    # another OS process's group has nothing to await: poll it, bounded by the grace period
    while loop.time() < deadline and (alive(proc) or _group_alive(proc.pid)):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    child = _CHILDREN.get(proc.pid)
    if child is not None:
        await asyncio.to_thread(child.wait)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_gone(pid: int) -> bool:
    return not _group_alive(pid)
