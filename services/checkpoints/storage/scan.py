"""Walking a workspace into manifest entries (without reading file contents), and clearing what a restore
does not hold. Excluded paths (mounted data links) are neither saved nor touched."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import PurePosixPath

from services.checkpoints.storage.manifest import DIR, FILE, LINK, Entry


def _excluded(rel: str, exclude: Iterable[str]) -> bool:
    """``rel`` is an excluded path or under one (string tests: this runs for every entry of a workspace)."""
    return any(rel == x or rel.startswith(x + "/") or x == "." for x in exclude)


def _normal(exclude: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(PurePosixPath(x)) for x in exclude)


def scan(root: str, exclude: tuple[str, ...] = ()) -> list[Entry]:
    """Every directory, regular file and symlink under ``root`` (sockets, fifos and devices are skipped)."""
    out: list[Entry] = []
    exclude = _normal(exclude)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for name in sorted(dirnames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _excluded(rel, exclude):
                continue
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISLNK(st.st_mode):  # os.walk lists a symlink to a folder among the folders
                out.append(Entry(rel, LINK, stat.S_IMODE(st.st_mode), st.st_mtime_ns,
                                 target=os.readlink(os.path.join(dirpath, name))))
                continue
            out.append(Entry(rel, DIR, stat.S_IMODE(st.st_mode), st.st_mtime_ns))
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _excluded(rel, exclude):
                continue
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, LINK, stat.S_IMODE(st.st_mode), st.st_mtime_ns, target=os.readlink(full)))
            elif stat.S_ISREG(st.st_mode):
                out.append(Entry(rel, FILE, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size))
    return out


def clear_extras(root: str, keep: set[str], exclude: tuple[str, ...]) -> None:
    """Remove what is under ``root`` but not in ``keep`` (and not excluded): a restore leaves the checkpoint."""
    exclude = _normal(exclude)
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        rel_dir = os.path.relpath(dirpath, root)
        for name in list(dirnames) + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel in keep or _excluded(rel, exclude):
                continue
            full = os.path.join(dirpath, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
                if name in dirnames:
                    dirnames.remove(name)
            else:
                os.unlink(full)


def same_file(full: str, e: Entry) -> bool:
    """A file already in place with the entry's size, mtime and mode is not written again."""
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return False
    return (stat.S_ISREG(st.st_mode) and st.st_size == e.size and st.st_mtime_ns == e.mtime_ns
            and stat.S_IMODE(st.st_mode) == e.mode)


KINDS = (FILE, DIR, LINK)
