"""How a local session's ``cpu`` and ``memory`` are enforced, and the words the progress step uses for it.

With a session cgroup (``cgroups.py``): a CFS quota of ``cpu`` cores (spread by the scheduler over every core) and
a resident-memory limit. Without one, the closest a plain process gets: CPU affinity to the ``cpu`` least-loaded
cores, and ``RLIMIT_AS`` — an *address-space* limit, not RSS: Python and JupyterLab reserve far more virtual memory
than they use (thread stacks, malloc arenas), so it is never set below ``ADDRESS_SPACE_FLOOR_MIB``.
"""

from __future__ import annotations

import os
import resource
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import psutil

from services.lifecycle.backends.cgroups import SessionGroup

ADDRESS_SPACE_FLOOR_MIB = 2048


def least_loaded(cores: Sequence[int], count: int, pinned: Counter[int], percent: Sequence[float]) -> list[int]:
    """The ``count`` cores with the fewest of our sessions pinned to them, then the least busy (``percent`` is
    indexed by core number), ties by core number: ten ``cpu: 1`` sessions spread over the cores, not all on core 0."""
    def load(core: int) -> tuple[int, float, int]:
        return pinned[core], percent[core] if core < len(percent) else 0.0, core

    return sorted(sorted(cores, key=load)[:count])


def pinned_cores(pids: Iterable[int]) -> Counter[int]:
    """How many of these (session leader) processes are pinned to each core; unpinned ones count nowhere."""
    every = set(os.sched_getaffinity(0))
    counts: Counter[int] = Counter()
    for pid in pids:
        try:
            mine = set(os.sched_getaffinity(pid))
        except OSError:
            continue
        if mine != every:
            counts.update(mine)
    return counts


def preexec(group: SessionGroup | None, memory_mib: int | None, cores: list[int] | None) -> Callable[[], None] | None:
    """What the child does between fork and exec: join its cgroup, or take the fallback limits."""
    if group is None and memory_mib is None and not cores:
        return None  # no preexec_fn at all: lets subprocess use its faster spawn path
    limit = max(memory_mib, ADDRESS_SPACE_FLOOR_MIB) * 2**20 if memory_mib is not None and group is None else None

    def apply() -> None:
        if group is not None:
            group.join()
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if cores:
            os.sched_setaffinity(0, cores)

    return apply


def fallback_cores(cpu: int | None, session_pids: Iterable[int]) -> list[int] | None:
    if not cpu:
        return None
    cores = sorted(os.sched_getaffinity(0))
    if cpu >= len(cores):
        return None  # all of them: nothing to pin
    return least_loaded(cores, cpu, pinned_cores(session_pids), psutil.cpu_percent(percpu=True))


def describe(group: SessionGroup | None, cpu: int | None, memory_mib: int | None, cores: list[int] | None) -> str:
    """One line for the launch progress step: which enforcement applied."""
    if group is not None:
        cpu_part = f"cpu quota {cpu} core(s)" if cpu else "cpu unlimited"
        memory_part = f"memory {memory_mib} MiB resident" if memory_mib else "memory unlimited"
        return f"limits: cgroup v{group.version}, {cpu_part}, {memory_part}"
    cpu_part = f"cpu affinity to core(s) {','.join(map(str, cores))}" if cores else "cpu not limited"
    memory_part = (f"memory as address space (RLIMIT_AS) {max(memory_mib, ADDRESS_SPACE_FLOOR_MIB)} MiB"
                   if memory_mib else "memory not limited")
    return f"limits: no writable cgroup, {cpu_part}, {memory_part}"
