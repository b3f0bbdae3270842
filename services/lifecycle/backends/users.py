"""Who a session's container runs as, and the workspace owned by that user. Pure, but for ``own``.

A container runs as the image's own user when the image names one (``USER`` in its Dockerfile: jupyter's
``jovyan``, a hardened image's uid). Otherwise it runs as the configured user (``STUDIOS_DOCKER_USER``, by
default ``1000:1000``) rather than root, the engine's default. Its ``HOME`` is the workspace (as DockerSpawner
mounts the volume at the user's home), so what a tool keeps there (settings, history) is the studio's and is
checkpointed with it, and a uid without a passwd entry still has a home it may write. The workspace folder is made
that user's, so the tool can write it; a user named, not numbered, by the image is left to the image.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("studios.lifecycle.docker")

DEFAULT_USER = "1000:1000"


def container_user(configured: str, image_user: str | None) -> str | None:
    """The ``User`` to set on the container: None leaves the image's own (it names one, or ``configured`` is
    empty: run as the image's default)."""
    if image_user:
        return None
    return configured or None


def ids(user: str | None) -> tuple[int, int] | None:
    """``uid[:gid]`` as numbers (the gid defaults to the uid); None for a name or nothing."""
    if not user:
        return None
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        return None
    return int(uid), int(gid or uid)


def apply(config: dict[str, Any], user: str | None, home: str) -> dict[str, Any]:
    """``config`` (a container's create body) running as ``user``, its ``HOME`` the workspace unless set."""
    if user is None:
        return config
    env = list(config.get("Env") or [])
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    return {**config, "User": user, "Env": env}


def own(folder: Path, owner: tuple[int, int] | None) -> None:
    """Make ``folder`` and what is in it (a restored checkpoint) belong to ``owner``, where this process may;
    entries already theirs are left alone. Without the right to (lifecycle not root), the folder is left as it
    is: lifecycle then runs as that very user (compose), or the operator owns the folder to it."""
    if owner is None:
        return
    uid, gid = owner
    for path in (folder, *folder.rglob("*")):
        with contextlib.suppress(FileNotFoundError):
            st = path.lstat()
            if (st.st_uid, st.st_gid) == (uid, gid):
                continue
            try:
                os.chown(path, uid, gid, follow_symlinks=False)
            except PermissionError:
                log.warning("cannot give %s to %d:%d (lifecycle is not root): the tool may not write it",
                            folder, uid, gid)
                return
