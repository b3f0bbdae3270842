"""``studios pools [--json]``: the warm pools on this host, as the lifecycle service last saw them.

Lifecycle writes ``<data dir>/lifecycle/pool/status.json`` on every pool pass (docs/pools.md): each class
(compute environment, template, cpu, memory), its size, how many members are ready, and each member's status,
pid and the memory it holds while it waits (its cgroup's resident bytes; RSS and PSS from /proc).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from libs.platform.cli.common import console, fail, load_settings


def status_file(data_dir: Path) -> Path:
    return data_dir.resolve() / "lifecycle" / "pool" / "status.json"


def _mib(value: Any) -> str:
    return f"{int(value) / 2**20:.0f}" if isinstance(value, int) else "-"


def table(status: dict[str, Any]) -> Table:
    out = Table("compute env", "template", "cpu", "memory MiB", "size", "ready", "member", "status", "pid",
                "cgroup MiB", "RSS MiB", "PSS MiB", title=f"warm pools (as of {status.get('at', '?')})")
    for pool in status.get("pools", []):
        head = [pool["compute_env_id"], pool["template"], str(pool["cpu"]), str(pool["memory"]), str(pool["size"]),
                str(pool["ready"])]
        members = pool.get("members") or [{}]
        for i, m in enumerate(members):
            memory = m.get("memory_bytes") or {}
            out.add_row(*(head if i == 0 else [""] * len(head)), m.get("id", "-"), m.get("status", "-"),
                        str(m.get("pid") or "-"), _mib(memory.get("cgroup")), _mib(memory.get("rss")),
                        _mib(memory.get("pss")))
    return out


def pools_command(as_json: bool = typer.Option(False, "--json", help="Print the status file as JSON.")) -> None:
    """The warm pools: per class its size and ready members, and what each member holds while it waits."""
    path = status_file(load_settings().data_dir)
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        raise fail(f"no pool status at {path}: is the lifecycle service running with this data dir?") from None
    except ValueError as e:
        raise fail(f"unreadable pool status at {path}: {e}") from None
    if as_json:
        console.print_json(data=status)
    elif not status.get("pools"):
        console.print("no warm pools (set one with PUT /compute-envs/{id}/warm-pool; docs/pools.md)")
    else:
        console.print(table(status))
