"""Walking a workspace into manifest entries (without reading file contents), and clearing what a restore
does not hold. Excluded paths (mounted data links) are neither saved nor touched."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from services.checkpoints.storage.manifest import DIR, FILE, LINK, Entry


def _excluded(rel: str, exclude: Iterable[str]) -> bool:
    """``rel`` is an excluded path or under one (string tests: this runs for every entry of a workspace)."""
    return any(rel == x or rel.startswith(x + "/") or x == "." for x in exclude)


def _normal(exclude: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(PurePosixPath(x)) for x in exclude)


def scan(root: str, exclude: tuple[str, ...] = ()) -> list[Entry]:
    """Every directory, regular file and symlink under ``root`` (sockets, fifos and devices are skipped): a
    folder's subfolders (and symlinks to folders), then its files, each sorted by name, then each subfolder's
    entries in turn. What vanishes or cannot be read while the walk runs is left out. One ``scandir`` per folder
    and one ``lstat`` per entry (``DirEntry.stat``), no path joins or ``relpath``: this runs before every save,
    and for a workspace of thousands of small files it was most of an interim save's fixed cost."""
    out: list[Entry] = []
    _walk(root, "", _normal(exclude), out, None)
    return out


def scan_in_batches(root: str, exclude: tuple[str, ...], each: Callable[[list[Entry]], None],
                    size: int = 256) -> None:
    """``scan`` handed over as it goes: ``each`` gets the entries in ``scan``'s order, in batches of ``size`` or
    more, each at the end of a folder (a save starts on a big changed file while the walk goes on)."""
    out: list[Entry] = []

    def emit() -> None:
        if len(out) >= size:
            each(out[:])
            out.clear()

    _walk(root, "", _normal(exclude), out, emit)
    if out:
        each(out)


def _walk(path: str, rel_dir: str, exclude: tuple[str, ...], out: list[Entry],
          emit: Callable[[], None] | None) -> None:
    folders: list[os.DirEntry[str]] = []
    files: list[os.DirEntry[str]] = []
    try:
        with os.scandir(path) as found:
            for d in found:
                try:
                    (folders if d.is_dir() else files).append(d)  # a symlink to a folder is among the folders
                except OSError:
                    files.append(d)
    except OSError:
        return
    prefix = f"{rel_dir}/" if rel_dir else ""
    below: list[tuple[str, str]] = []
    for listed, folder in ((folders, True), (files, False)):
        for d in sorted(listed, key=_name):
            rel = prefix + d.name
            if exclude and _excluded(rel, exclude):
                continue
            e = _entry(d, rel, folder)
            if e is not None:
                out.append(e)
                if e.kind == DIR:
                    below.append((d.path, rel))
    if emit is not None:
        emit()
    for sub, rel in below:
        _walk(sub, rel, exclude, out, emit)


def _entry(d: os.DirEntry[str], rel: str, folder: bool) -> Entry | None:
    """A listed folder's entry (a directory, or a symlink to one), or a listed file's (a regular file or a
    symlink; sockets, fifos and devices are None); None too for what vanished since it was listed."""
    try:
        st = d.stat(follow_symlinks=False)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            return Entry(rel, LINK, mode, st.st_mtime_ns, target=os.readlink(d.path))
    except FileNotFoundError:
        return None
    if folder:
        return Entry(rel, DIR, mode, st.st_mtime_ns)
    return Entry(rel, FILE, mode, st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None


def _name(d: os.DirEntry[str]) -> str:
    return d.name


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
