"""Removing a folder a service made and no longer needs, without reaching outside it.

``remove_tree`` removes symlinks, never what they name (``shutil.rmtree``'s rule), and refuses a folder that holds
a mount point of another file system: whatever is mounted there is not the folder's to delete. Folders left
unwritable (read-only copies, a tool's ``chmod``) are made writable first, so their owner can empty them. Another
process removing the same folder at the same time is no error.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("studios.folders")


def mount_inside(folder: Path) -> Path | None:
    """The first folder below ``folder`` on another file system (a mount point), without following symlinks.
    Raises FileNotFoundError when ``folder`` is not there."""
    device = folder.lstat().st_dev
    for parent, dirs, _files in os.walk(folder, onerror=_ignore):
        for name in dirs:
            path = Path(parent) / name
            try:
                if path.lstat().st_dev != device:
                    return path
            except FileNotFoundError:
                continue
    return None


def remove_tree(folder: Path) -> bool:
    """``folder`` and everything in it; True once it is gone. False, with the folder untouched and a warning,
    when it holds a mount point. Raises OSError for what it may not remove (another user's files)."""
    try:
        mount = mount_inside(folder)
    except FileNotFoundError:
        return True
    if mount is not None:
        log.warning("not removing %s: %s is a mount point (unmount it, and the folder can go)", folder, mount)
        return False
    _writable(folder)
    for parent, dirs, _files in os.walk(folder, onerror=_ignore):
        for name in dirs:
            _writable(Path(parent) / name)
    shutil.rmtree(folder, onerror=_gone_already)
    return True


def _writable(path: Path) -> None:
    try:
        info = path.lstat()
        if not path.is_symlink() and info.st_mode & 0o700 != 0o700:
            path.chmod(info.st_mode | 0o700)
    except (FileNotFoundError, PermissionError):
        pass  # gone already, or another user's: rmtree says what is really in the way


def _ignore(error: OSError) -> None:
    """A folder that vanished or cannot be listed while walking: rmtree reports what really is in the way."""


def _gone_already(func: object, path: str, exc_info: tuple[type[BaseException], BaseException, object]) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]
