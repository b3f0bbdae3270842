"""Read-only data links for local sessions.

Where the service may (root, with ``unshare`` from util-linux), the tool runs in a mount namespace of its own in
which each data link is bind-mounted read-only into the workspace: the tool can read it and cannot write it, and
the mounts vanish with the session's process, so nothing is left to unmount. Elsewhere each link is a symlink,
readable and writable as far as the folder's own permissions go; the session's progress says so. An ``s3://``
link's source is its synchronised copy (``services/lifecycle/datalinks``), whose files are 0444 in 0555 folders.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

Mount = tuple[str, str]  # (source on the host, target inside the workspace)

SYMLINK_WARNING = ("data links are symlinked, not mounted read-only: this server may not create mount namespaces "
                   "(it needs root and unshare); they are as writable as their folders' permissions allow")


@functools.cache
def can_mount() -> bool:
    """Whether this process may give a tool a private mount namespace (tried once)."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return False
    probe = subprocess.run([unshare, "--mount", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


def wrap(command: list[str], mounts: Sequence[Mount]) -> list[str]:
    """The command that runs ``command`` with ``mounts`` in place (mounted read-only, or symlinked)."""
    if not mounts:
        return command
    if not can_mount():
        for source, target in mounts:
            _symlink(Path(source), Path(target))
        return command
    lines = ["set -e"]
    for source, target in mounts:
        src, dst = shlex.quote(source), shlex.quote(target)
        lines += [f"mkdir -p {dst}", f"mount --bind {src} {dst}", f"mount -o remount,bind,ro {dst}"]
    lines.append('exec "$@"')
    # unshare execs sh, sh execs the tool: one pid throughout, so the session's process group is unchanged.
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(lines), "sh", *command]


def _symlink(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        target.rmdir()  # an empty mount point left by an earlier, mounted run
    target.symlink_to(source, target_is_directory=True)
