"""Save and restore a workspace with every core.

A save scans the workspace, reuses the chunk list of every file whose size and mtime match the previous manifest
(not read again), hands the other files to worker processes in batches, a big one as soon as the walk finds it
(chunking, hashing and compressing hold the GIL), and writes the manifest last: until the manifest is stored and
an event names it, the new chunks are referenced by nothing, and garbage collection spares them for its grace
period. A restore writes the files from verified chunks in worker processes, then directories, symlinks and
times, and removes what the checkpoint does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from typing import Any, NoReturn, TypeVar

from libs.contracts.checkpoint import ManifestRef
from services.checkpoints.blobstores.base import BlobNotFound
from services.checkpoints.storage import chunks as ch
from services.checkpoints.storage.manifest import (
    DIR,
    FILE,
    LINK,
    VERSION,
    CorruptBlob,
    Entry,
    Manifest,
    reference,
    verified,
)
from services.checkpoints.storage.scan import clear_extras, same_file, scan_in_batches

T = TypeVar("T")
BATCH_BYTES = 64 * 1024 * 1024
BATCH_FILES = 512
#: a save whose changed files hold less than this chunks them in this process: the fixed cost of a round trip
#: to the workers (pickling what the previous manifest stored, waking them) is most of a small interim save
INLINE_BYTES = 8 * 1024 * 1024
#: a changed file at least this big goes to the workers as soon as the walk meets it, so its chunking overlaps the
#: rest of the walk: a 1 MiB change in a 200 MB file costs a re-read of the file, most of an interim save
EARLY_BYTES = INLINE_BYTES
CACHED_MANIFESTS = 8  # a manifest of 10 000 files holds a few MB in memory


@dataclass(frozen=True)
class Saved:
    manifest: ManifestRef
    size: int
    file_count: int
    bytes_written: int
    chunks_written: int
    files_read: int


@dataclass(frozen=True)
class Restored:
    files: int
    size: int
    files_written: int


class Engine:
    """``url``: the blob store; ``workers``: processes (0: threads, for an in-process store such as memory://)."""

    def __init__(self, url: str, workers: int | None = None) -> None:
        self.url = url
        self.store = ch.store_for(url)
        n = workers if workers is not None else (os.cpu_count() or 1)
        self._in_process = url.startswith("memory:") or n == 0
        self.workers = max(n, 1)
        self._pool: Executor = self._new_pool()
        self._manifests: dict[str, Manifest] = {}  # by key, oldest first: the bases of the next saves

    def _renew(self, e: BrokenExecutor) -> NoReturn:
        """A worker died (the OOM killer, a signal): this save fails, the next one gets a fresh pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        raise OSError(f"a checkpoint worker process died: {e}") from e

    def _new_pool(self) -> Executor:
        if self._in_process:
            return ThreadPoolExecutor(self.workers)
        return ProcessPoolExecutor(self.workers, mp_context=get_context("forkserver"))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _map(self, fn: Callable[..., list[T]], batches: Sequence[Sequence[Any]], root: str,
                   *extra: Any) -> list[T]:
        """``fn(url, root, batch, *extra)`` for every batch, on the workers."""
        loop = asyncio.get_running_loop()
        try:
            futures = [loop.run_in_executor(self._pool, fn, self.url, root, b, *extra) for b in batches]
        except BrokenExecutor as e:  # it broke while idle
            self._renew(e)
        # every batch ends before this returns, failed or not: a worker still writing after a failure would race
        # the next restore of the same folder
        results = await asyncio.gather(*futures, return_exceptions=True)
        out: list[T] = []
        for result in results:
            if isinstance(result, BrokenExecutor):
                self._renew(result)
            if isinstance(result, BaseException):
                raise result
            out.extend(result)
        return out

    async def load(self, ref: ManifestRef, *, cached: bool = False) -> Manifest:
        """The manifest ``ref`` names, read and verified; with ``cached``, one this engine wrote or read lately
        (a save's base: the save depends on its content alone, which its digest names)."""
        if cached and (hit := self._manifests.get(ref.uri)) is not None:
            return hit
        try:
            data = await asyncio.to_thread(self.store.get, ref.uri)
        except BlobNotFound:
            raise CorruptBlob(ref.uri, "manifest missing") from None
        return self._remember(ref, verified(ref, data))

    def _remember(self, ref: ManifestRef, manifest: Manifest) -> Manifest:
        self._manifests[ref.uri] = manifest
        while len(self._manifests) > CACHED_MANIFESTS:
            del self._manifests[next(iter(self._manifests))]
        return manifest

    async def save(self, checkpoint_id: int, root: str, previous: Manifest | None = None,
                   exclude: tuple[str, ...] = ()) -> Saved:
        if previous is not None and previous.version != VERSION:
            previous = None  # its chunks are named by another hash: every file is read again, once
        before = {e.path: e for e in previous.entries} if previous else {}
        known = frozenset(previous.chunk_ids()) if previous else frozenset()
        final: list[Entry] = []
        changed: list[Entry] = []
        small: list[Entry] = []  # changed files below EARLY_BYTES: chunked once the walk is done
        early: list[asyncio.Future[list[ch.Written]]] = []

        def sort(batch: list[Entry]) -> None:
            for e in batch:
                old = before.get(e.path)
                if e.kind != FILE:
                    final.append(old if old == e else e)  # the previous object: its encoding is reused
                elif old is not None and old.kind == FILE and (old.size, old.mtime_ns) == (e.size, e.mtime_ns):
                    final.append(old if old.mode == e.mode else replace(e, chunks=old.chunks))  # not read again
                else:
                    final.append(e)
                    changed.append(e)
                    if e.size >= EARLY_BYTES:  # to the workers now: its chunking overlaps the rest of the walk
                        early.append(asyncio.ensure_future(self._map(
                            ch.store_files, self._batches(ch.pieces(e.path, e.size)), root, known)))
                    else:
                        small.append(e)

        try:
            await self._scan(root, exclude, sort)
            todo = [p for e in small for p in ch.pieces(e.path, e.size)]
            if sum(e.size for e in small) <= INLINE_BYTES:  # a handful of small files: no round trip to workers
                rest = await asyncio.to_thread(ch.store_files, self.url, root, todo, known)
            else:
                rest = await self._map(ch.store_files, self._batches(todo), root, known)
        finally:  # every batch ends before this returns, failed or not (as in ``_map``)
            results = await asyncio.gather(*early, return_exceptions=True)
        written = list(rest)
        for result in results:
            if isinstance(result, BaseException):
                raise result
            written.extend(result)
        by_path: dict[str, list[ch.Written]] = {}
        for w in sorted(written, key=lambda w: w.offset):
            by_path.setdefault(w.path, []).append(w)
        final = [replace(e, chunks=tuple(c for w in by_path[e.path] for c in w.chunks)) if e.path in by_path
                 and e.kind == FILE else e for e in final]
        manifest = Manifest(tuple(final))
        data = await asyncio.to_thread(manifest.encode, previous)  # off the loop: a big one takes a while
        ref = reference(checkpoint_id, data)
        # The key names the content: a manifest this engine stored durably or read back verified, and still
        # there (the caller holds the lock that keeps collection out), is not written again: an unchanged
        # workspace's save writes nothing at all.
        stored = ref.uri in self._manifests and await asyncio.to_thread(self.store.exists, ref.uri)
        if not stored:
            await asyncio.to_thread(self._put_durably, ref.uri, data)
        self._remember(ref, manifest)
        return Saved(ref, manifest.size, len(manifest.files),
                     sum(w.bytes_written for w in written) + (0 if stored else len(data)),
                     sum(w.chunks_written for w in written), len(changed))

    @staticmethod
    async def _scan(root: str, exclude: tuple[str, ...], each: Callable[[list[Entry]], None]) -> None:
        """``scan_in_batches`` in a thread, ``each`` called on the loop with every batch as it comes."""
        loop = asyncio.get_running_loop()
        batches: asyncio.Queue[list[Entry] | None] = asyncio.Queue()

        def hand(batch: list[Entry]) -> None:
            loop.call_soon_threadsafe(batches.put_nowait, batch)

        def walk() -> None:
            try:
                scan_in_batches(root, exclude, hand)
            finally:
                loop.call_soon_threadsafe(batches.put_nowait, None)

        walker = asyncio.ensure_future(asyncio.to_thread(walk))
        try:
            while (batch := await batches.get()) is not None:
                each(batch)
        except BaseException:
            await asyncio.gather(walker, return_exceptions=True)
            raise
        await walker  # what the walk raised, if it did

    def _put_durably(self, key: str, data: bytes) -> None:
        """The manifest last (the workers flushed their chunks): once an event names it, all of it is on disk."""
        self.store.put(key, data)
        self.store.flush()

    def _batches(self, todo: Sequence[T], size: Callable[[Any], int] = lambda p: p[2]) -> list[list[T]]:
        """Big pieces alone, small ones together: enough batches to keep every worker busy, few enough that
        per-task overhead does not dominate thousands of small files."""
        target = min(BATCH_BYTES, max(1, sum(size(p) for p in todo) // (self.workers * 4)))
        batches: list[list[T]] = []
        current: list[T] = []
        total = 0
        for p in sorted(todo, key=lambda p: -size(p)):
            current.append(p)
            total += size(p)
            if total >= target or len(current) >= BATCH_FILES:
                batches.append(current)
                current, total = [], 0
        if current:
            batches.append(current)
        return batches

    async def restore(self, manifest: Manifest, root: str, exclude: tuple[str, ...] = ()) -> Restored:
        os.makedirs(root, exist_ok=True)
        keep = {e.path for e in manifest.entries}
        await asyncio.to_thread(_prepare, root, manifest, keep, exclude)
        todo = [e for e in manifest.files if not same_file(os.path.join(root, e.path), e)]
        # a large file in segments, written by every worker into one temporary, renamed when all are in
        large = {e.path: e for e in todo if e.size > ch.SEGMENT}
        temps = await asyncio.to_thread(_allocate, root, large.values())
        items = [*(e for e in todo if e.path not in large),
                 *(s for e in large.values() for s in ch.segments(e, temps[e.path]))]
        try:
            await self._map(ch.restore_files, self._batches(items, lambda i: i.size), root, manifest.version)
            await asyncio.to_thread(_place, root, large.values(), temps)
        finally:
            for tmp in temps.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, tmp))
        await asyncio.to_thread(_finish, root, manifest)
        return Restored(len(manifest.files), manifest.size, len(todo))


def _allocate(root: str, large: Iterable[Entry]) -> dict[str, str]:
    temps = {}
    for e in large:
        temps[e.path] = tmp = f"{e.path}.restoring-{uuid.uuid4().hex[:8]}"
        with open(os.path.join(root, tmp), "wb") as f:
            f.truncate(e.size)
    return temps


def _place(root: str, large: Iterable[Entry], temps: dict[str, str]) -> None:
    for e in large:
        tmp = os.path.join(root, temps[e.path])
        os.chmod(tmp, e.mode)
        os.utime(tmp, ns=(e.mtime_ns, e.mtime_ns))
        os.replace(tmp, os.path.join(root, e.path))


def _prepare(root: str, manifest: Manifest, keep: set[str], exclude: tuple[str, ...]) -> None:
    clear_extras(root, keep, exclude)
    for e in manifest.entries:
        full = os.path.join(root, e.path)
        if e.kind == DIR:
            if os.path.islink(full) or (os.path.exists(full) and not os.path.isdir(full)):
                os.unlink(full)
            os.makedirs(full, exist_ok=True)
        elif os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)  # a folder where the checkpoint has a file or a link


def _finish(root: str, manifest: Manifest) -> None:
    for e in manifest.entries:
        if e.kind == LINK:
            full = os.path.join(root, e.path)
            if os.path.lexists(full):
                os.unlink(full)
            os.symlink(e.target or "", full)
            os.utime(full, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
    for e in sorted((e for e in manifest.entries if e.kind == DIR), key=lambda e: -e.path.count("/")):
        full = os.path.join(root, e.path)
        os.chmod(full, e.mode)
        os.utime(full, ns=(e.mtime_ns, e.mtime_ns))  # deepest first: writing inside a folder moves its mtime
