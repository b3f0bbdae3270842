"""Session cgroups: cpu as a CFS quota, memory as a resident-memory limit, and one place holding every process.

- v2 (``cpu.max``, ``memory.max``, ``memory.peak``, ``cpu.stat``, ``cgroup.kill``) where a unified hierarchy with
  the cpu and memory controllers is writable; else v1 (``cpu.cfs_quota_us``, ``memory.limit_in_bytes``,
  ``memory.max_usage_in_bytes``, ``cpuacct.usage``), one hierarchy per controller; else None, and the backend
  falls back to affinity and RLIMIT_AS (``limits.py``).
- Session groups live below the lifecycle service's own cgroup in each hierarchy, so a container's or a unit's
  limits still cover them, in a folder named for the backend (``studios-<hash of its state dir>``): two backends on
  one machine (tests side by side) never share a group.
- A process joins its group before it execs the tool, so everything it starts is in the group, ``setsid`` or not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 100_000  # the kernel's default CFS period: cpu: N is N periods' worth of runtime per period


@dataclass(frozen=True)
class SessionGroup:
    version: int
    cpu: Path
    memory: Path
    cpuacct: Path  # where cpu time is counted: the cpu folder itself on v2 (and when v1 co-mounts cpu,cpuacct)

    @property
    def dirs(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys((self.cpu, self.cpuacct, self.memory)))

    def to_dict(self) -> dict[str, object]:
        return {"version": self.version, "cpu": str(self.cpu), "memory": str(self.memory),
                "cpuacct": str(self.cpuacct)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SessionGroup:
        return cls(int(str(data["version"])), Path(str(data["cpu"])), Path(str(data["memory"])),
                   Path(str(data["cpuacct"])))

    def create(self, cpu: int | None, memory_mib: int | None) -> None:
        """Make the group and set its limits; raises OSError when the hierarchy refuses."""
        for folder in self.dirs:
            folder.mkdir(parents=self.version == 1, exist_ok=True)  # v2's parent was prepared by detect()
        if self.version == 2:
            (self.cpu / "cpu.max").write_text(f"{cpu * PERIOD_US} {PERIOD_US}" if cpu else f"max {PERIOD_US}")
            (self.memory / "memory.max").write_text(str(memory_mib * 2**20) if memory_mib else "max")
        else:
            period = int((self.cpu / "cpu.cfs_period_us").read_text())
            (self.cpu / "cpu.cfs_quota_us").write_text(str(cpu * period) if cpu else "-1")
            (self.memory / "memory.limit_in_bytes").write_text(str(memory_mib * 2**20) if memory_mib else "-1")
        self.weigh(cpu)

    def weigh(self, cpu: int | None, *, background: bool = False) -> None:
        """The group's share of cpu under contention: ``cpu`` plain processes' worth, or (``background``) a tenth
        of one, for work nobody waits on (a warm-pool process importing its tool while a studio starts beside
        it); raises OSError when the hierarchy refuses."""
        weight = max(1, self._weight_unit // 10) if background else min(self._weight_unit * (cpu or 1),
                                                                         self._weight_max)
        (self.cpu / self._weight_file).write_text(str(weight))
        self._reweigh_parent()

    @property
    def _weight_file(self) -> str:
        return "cpu.weight" if self.version == 2 else "cpu.shares"

    @property
    def _weight_unit(self) -> int:
        return 100 if self.version == 2 else 1024  # each version's default weight: what one plain process has

    @property
    def _weight_max(self) -> int:
        return 10_000 if self.version == 2 else 262_144

    def _reweigh_parent(self) -> None:
        """Give the backend's folder the weight of all its sessions together. Under contention the scheduler shares
        cpu among the folder's siblings (every other process of the machine, in v1 at the root) by weight, so at
        the default weight all sessions together would get what one plain process gets: ten JupyterLab starts
        next to a busy machine took 4.5 times as long as ten bare ones (bench.lifecycle)."""
        parent = self.cpu.parent
        with contextlib.suppress(OSError):
            total = sum(int((child / self._weight_file).read_text()) for child in parent.iterdir()
                        if child.is_dir() and (child / self._weight_file).exists())
            (parent / self._weight_file).write_text(str(min(max(total, self._weight_unit), self._weight_max)))

    def join(self) -> None:
        """Move the calling process into the group: run in the child between fork and exec (``preexec_fn``)."""
        pid = str(os.getpid()).encode()
        for folder in self.dirs:
            fd = os.open(folder / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def exists(self) -> bool:
        return self.memory.is_dir()

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in (self.memory / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def signal(self, signum: int) -> None:
        kill = self.memory / "cgroup.kill"
        if self.version == 2 and signum == signal.SIGKILL and kill.exists():
            with contextlib.suppress(OSError):
                kill.write_text("1")  # atomic over the whole group: a process forking meanwhile cannot escape
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def cpu_seconds(self) -> float | None:
        with contextlib.suppress(OSError, ValueError):
            if self.version == 2:
                stat = dict(line.split() for line in (self.cpuacct / "cpu.stat").read_text().splitlines())
                return int(stat["usage_usec"]) / 1e6
            return int((self.cpuacct / "cpuacct.usage").read_text()) / 1e9
        return None

    def memory_bytes(self) -> tuple[int | None, int | None]:
        """(resident now, peak since the group was made); either is None where the kernel does not say."""
        now_file, peak_file = (("memory.current", "memory.peak") if self.version == 2
                               else ("memory.usage_in_bytes", "memory.max_usage_in_bytes"))
        return _int(self.memory / now_file), _int(self.memory / peak_file)

    def remove(self) -> None:
        """Remove the (empty) group; a group that still holds a process stays, and says so by existing."""
        for folder in self.dirs:
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._reweigh_parent()
        for folder in self.dirs:
            if self.version == 1:  # the backend's folder goes with its last session (v2's carries settings)
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()


@dataclass(frozen=True)
class Layout:
    """Where this backend's session groups are made: one parent folder per controller."""

    version: int
    cpu: Path
    memory: Path
    cpuacct: Path

    def group(self, session_id: str) -> SessionGroup:
        return SessionGroup(self.version, self.cpu / session_id, self.memory / session_id,
                            self.cpuacct / session_id)


def detect(state_dir: Path, root: Path = Path("/proc/self")) -> Layout | None:
    """The writable hierarchy to use, v2 first; None when neither can hold our groups."""
    name = "studios-" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    mounts = _mounts(root / "mounts")
    own = _own_paths(root / "cgroup")
    return _v2(mounts, own, name) or _v1(mounts, own, name)


def _v2(mounts: list[tuple[str, str, set[str]]], own: dict[str, str], name: str) -> Layout | None:
    for point, kind, _ in mounts:
        if kind != "cgroup2" or "" not in own:
            continue
        parent = Path(point) / own[""].lstrip("/")
        with contextlib.suppress(OSError):
            if not {"cpu", "memory"} <= set((parent / "cgroup.controllers").read_text().split()):
                continue
            # v2 allows controllers only in folders without processes of their own, so our folder gets them for
            # its children and the session groups sit in a folder of ours that holds no process.
            (parent / "cgroup.subtree_control").write_text("+cpu +memory")
            base = parent / name
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+cpu +memory")
            return Layout(2, base, base, base)
    return None


def _v1(mounts: list[tuple[str, str, set[str]]], own: dict[str, str], name: str) -> Layout | None:
    found: dict[str, Path] = {}
    for point, kind, options in mounts:
        for controller in ("cpu", "cpuacct", "memory"):
            if kind == "cgroup" and controller in options and controller not in found:
                key = next((k for k in own if controller in k.split(",")), None)
                if key is not None:
                    found[controller] = Path(point) / own[key].lstrip("/") / name
    # Writable means mounted read-write (``_mounts`` keeps only those) and ours to write: the folders themselves
    # are made with the first session, so a backend that never launches leaves nothing behind.
    if set(found) != {"cpu", "cpuacct", "memory"} or not all(os.access(f.parent, os.W_OK) for f in found.values()):
        return None
    return Layout(1, found["cpu"], found["memory"], found["cpuacct"])


def _mounts(path: Path) -> list[tuple[str, str, set[str]]]:
    with contextlib.suppress(OSError):
        rows = [line.split() for line in path.read_text().splitlines()]
        return [(r[1], r[2], set(r[3].split(","))) for r in rows if len(r) >= 4 and "rw" in r[3].split(",")]
    return []


def _own_paths(path: Path) -> dict[str, str]:
    """``/proc/self/cgroup`` as {controllers: path}; v2's line has the empty controller list."""
    with contextlib.suppress(OSError):
        parts = [line.split(":", 2) for line in path.read_text().splitlines()]
        return {p[1]: p[2] for p in parts if len(p) == 3}
    return {}


def _int(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().split()[0])
    return None
