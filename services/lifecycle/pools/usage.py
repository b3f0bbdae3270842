"""What a pooled process holds while it waits: its cgroup's resident memory where it has one, and the RSS and
PSS (its share of pages shared with other processes, e.g. the interpreter's) of its processes from /proc."""

from __future__ import annotations

import contextlib

import psutil

from services.lifecycle.backends import processes as os_processes
from services.lifecycle.backends.base import Handle
from services.lifecycle.backends.local import LocalBackend


def member_memory(backend: LocalBackend, handle: Handle | None) -> dict[str, int | None]:
    if handle is None:
        return {"cgroup": None, "rss": None, "pss": None}
    group = backend.records.group(handle.session_id)
    current = None
    if group is not None and group.exists():
        with contextlib.suppress(OSError, ValueError):
            current = group.memory_bytes()[0]
    rss = pss = 0
    for pid in os_processes.group_members(int(handle.ident)):
        with contextlib.suppress(psutil.Error):
            info = psutil.Process(pid).memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", 0)
    return {"cgroup": current, "rss": rss or None, "pss": pss or None}
