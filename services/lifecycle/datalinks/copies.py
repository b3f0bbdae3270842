"""Read-only synchronised copies of ``s3://`` data links, for backends that cannot mount a bucket.

Each studio keeps one copy per link under ``<data dir>/lifecycle/datalinks/<studio>/<link>/``, outside the
workspace (checkpoints never see it). At every start the copy is brought up to date with the bucket: only new or
changed objects (by ETag and size, against the copy's manifest) are fetched, objects gone from the bucket are
removed. Files are written read-only (0444, folders 0555); the backend then shows the copy at
``<workspace>/data/<name>`` exactly like a ``file://`` link (a read-only bind mount, or a symlink), and Docker
bind-mounts it read-only. A link larger than the limit is refused before anything is fetched.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libs.contracts.errors import StudiosError
from libs.datalinks import s3
from libs.platform.folders import remove_tree
from services.lifecycle.datalinks.plan import Plan, plan

Report = Callable[[str], Awaitable[None]]
MANIFEST = ".studios-manifest.json"  # beside the copy, never inside it (the tool would see it)


class CopyError(Exception):
    """A link that cannot be copied; the message names it and says why."""


def mib(n: int) -> str:
    return f"{n / 1024**2:.1f} MiB"


@dataclass(frozen=True)
class Synced:
    name: str
    folder: Path
    work: Plan

    def line(self) -> str:
        w = self.work
        return (f"data link {self.name}: {len(w.fetch)} file(s) fetched ({mib(w.fetch_bytes)}), "
                f"{len(w.keep)} unchanged, {len(w.remove)} removed")

    def warning(self) -> str | None:
        """Keys that are no file path here (``a`` and ``a/b``, ``..``) are left out, and the session says so."""
        if not self.work.skipped:
            return None
        return (f"data link {self.name}: {len(self.work.skipped)} object key(s) cannot be files and are not in "
                f"the copy (first: {self.work.skipped[0]!r})")


class S3Copies:
    def __init__(self, root: Path, limit_bytes: int, concurrency: int = 8, report_every: float = 2.0) -> None:
        # report_every: each report is an event on the studio's stream (kept forever), so a long copy says where it
        # is every few seconds, not at every file
        self.root, self.limit, self.concurrency, self.report_every = root, limit_bytes, concurrency, report_every

    def folder(self, studio_id: str, link_id: str) -> Path:
        return self.root / studio_id / link_id

    def studios(self) -> list[str]:
        """The studios with copies on this host."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def remove(self, studio_id: str) -> None:
        """Every copy a studio has here, with their manifests: for a deleted studio, whose copies nobody reads
        again. Its folders are made writable first (0555 between syncs, and rmtree must empty them)."""
        remove_tree(self.root / studio_id)  # another replica on this data dir may remove it too: no error

    async def sync(self, studio_id: str, link_id: str, name: str, access: s3.LinkAccess,
                   report: Report | None = None) -> Synced:
        """The up-to-date copy and what it took; CopyError with the reason otherwise."""
        copy = self.folder(studio_id, link_id)
        manifest_file = copy.parent / f"{link_id}{MANIFEST}"
        client = await asyncio.to_thread(s3.client, access)  # loading the service model takes a while
        listing = await self._call(access, name, lambda: list(s3.list_all(client, access.location)))
        total = sum(o.size for o in listing)
        if total > self.limit:
            raise CopyError(f"data link {name} ({access.describe()}) holds {mib(total)}, more than the "
                            f"{mib(self.limit)} a session's read-only copy may hold "
                            "(STUDIOS_DATALINK_COPY_MAX_MB); nothing was copied")
        manifest = await asyncio.to_thread(_read_manifest, manifest_file)
        present = await asyncio.to_thread(_files, copy)
        work = plan(listing, manifest, present)
        await asyncio.to_thread(_writable, copy, True)
        try:
            await self._fetch(client, access, name, copy, work, report)
            await asyncio.to_thread(_remove, copy, work.remove)
        finally:
            await asyncio.to_thread(_writable, copy, False)
        for obj in work.fetch:
            manifest[obj.key] = (obj.etag, obj.size)
        kept = {o.key for o in (*work.fetch, *work.keep)}
        await asyncio.to_thread(_write_manifest, manifest_file, {k: v for k, v in manifest.items() if k in kept})
        return Synced(name, copy, work)

    async def _fetch(self, client: Any, access: s3.LinkAccess, name: str, copy: Path, work: Plan,
                     report: Report | None) -> None:
        done, done_bytes, last = 0, 0, 0.0
        limit = asyncio.Semaphore(self.concurrency)

        async def one(obj: s3.Obj) -> None:
            nonlocal done, done_bytes, last
            async with limit:
                await self._call(access, name, lambda: _download(client, access.location, obj, copy))
            done, done_bytes = done + 1, done_bytes + obj.size
            if report is not None and (time.monotonic() - last >= self.report_every or done == len(work.fetch)):
                last = time.monotonic()
                await report(f"Syncing data link {name}: {done} of {len(work.fetch)} file(s), "
                             f"{mib(done_bytes)} of {mib(work.fetch_bytes)}")

        if report is not None:
            await report(f"Syncing data link {name}: {len(work.fetch)} file(s) to fetch ({mib(work.fetch_bytes)}), "
                         f"{len(work.keep)} unchanged")
        await asyncio.to_thread(copy.mkdir, parents=True, exist_ok=True)
        tasks = [asyncio.create_task(one(o)) for o in work.fetch]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _call(self, access: s3.LinkAccess, name: str, work: Callable[[], Any]) -> Any:
        try:
            return await asyncio.to_thread(work)
        except (OSError, CopyError):
            raise
        except Exception as e:  # a boto3 failure is the start's message, naming the link
            err = e if isinstance(e, StudiosError) else s3.explain(e, access, name)
            raise CopyError(err.detail) from e


def _download(client: Any, location: s3.S3Location, obj: s3.Obj, copy: Path) -> None:
    target = copy / obj.key
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    part.unlink(missing_ok=True)  # left by a cut-off fetch, and read-only
    with part.open("wb") as out:
        client.download_fileobj(location.bucket, location.prefix + obj.key, out)
    part.chmod(0o444)
    os.replace(part, target)  # atomic: the copy holds the old file or the new one, never half of one


def _read_manifest(path: Path) -> dict[str, tuple[str, int]]:
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): (str(v[0]), int(v[1])) for k, v in raw.items()}


def _write_manifest(path: Path, manifest: dict[str, tuple[str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: list(v) for k, v in sorted(manifest.items())}))
    os.replace(tmp, path)


def _files(copy: Path) -> set[str]:
    if not copy.is_dir():
        return set()
    return {str(p.relative_to(copy).as_posix()) for p in copy.rglob("*")
            if p.is_file() and not p.name.endswith(".part")}


def _writable(copy: Path, writable: bool) -> None:
    """Folders are 0555 between syncs (a tool of the same user cannot add to them); 0755 while one runs."""
    if not copy.is_dir():
        return
    for folder in [copy, *(p for p in copy.rglob("*") if p.is_dir())]:
        folder.chmod(0o755 if writable else 0o555)


def _remove(copy: Path, paths: tuple[str, ...]) -> None:
    for rel in paths:
        (copy / rel).unlink(missing_ok=True)
    for folder in sorted((p for p in copy.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
