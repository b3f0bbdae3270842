"""Saving and restoring a workspace through the chunk store (worker processes, a filesystem store; the s3 store
once end to end): everything comes back byte for byte with its mode, unchanged files are not read again, stored
chunks are not written again, and a corrupted chunk is found on restore."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest
import zstandard

from services.checkpoints.storage import chunks
from services.checkpoints.storage.chunks import chunk_key
from services.checkpoints.storage.engine import INLINE_BYTES, Engine
from services.checkpoints.storage.manifest import FILE, CorruptBlob, Entry, Manifest, reference
from tests.integration.checkpoint_helpers import fill_workspace, s3_endpoint, s3_url, snapshot

__all__ = ["s3_endpoint"]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(str(tmp_path / "blobs"), workers=2)
    yield e
    e.close()


async def test_a_restore_brings_back_every_kind_of_entry_byte_for_byte(engine: Engine, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    fill_workspace(ws)
    saved = await engine.save(1, str(ws))
    assert saved.file_count == 4 and saved.files_read == 4 and saved.chunks_written > 0
    out = tmp_path / "restored"
    (out / "stale").mkdir(parents=True)  # not in the checkpoint: removed by the restore
    restored = await engine.restore(await engine.load(saved.manifest), str(out))
    assert restored.files == 4
    assert snapshot(out) == snapshot(ws)
    assert os.access(out / "run.sh", os.X_OK) and (out / "empty").is_dir() and os.readlink(out / "link")


async def test_an_unchanged_workspace_is_saved_without_reading_or_writing_a_chunk(engine: Engine,
                                                                                  tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    fill_workspace(ws)
    first = await engine.save(1, str(ws))
    second = await engine.save(1, str(ws), previous=await engine.load(first.manifest))
    assert second.files_read == 0 and second.chunks_written == 0
    assert second.manifest == first.manifest  # the same content makes the same manifest
    assert second.bytes_written == 0  # not even the manifest: the same one is stored under its key
    engine.store.delete(first.manifest.uri)  # gone (a save holds collection off; here, by hand)
    third = await engine.save(1, str(ws), previous=await engine.load(first.manifest, cached=True))
    assert third.bytes_written == first.manifest.size and engine.store.exists(first.manifest.uri)


async def test_a_small_change_writes_only_its_chunks(engine: Engine, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    fill_workspace(ws, big_mb=16)
    first = await engine.save(1, str(ws))
    _overwrite(ws / "big.dat", 8 << 20, os.urandom(64 << 10))  # 64 KiB changed in the middle of 16 MiB
    second = await engine.save(1, str(ws), previous=await engine.load(first.manifest))
    assert second.files_read == 1
    assert 0 < second.chunks_written <= 3
    assert second.bytes_written < first.bytes_written / 4


def _overwrite(path: Path, at: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)


async def test_a_corrupted_chunk_is_found_on_restore(engine: Engine, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    fill_workspace(ws)
    saved = await engine.save(1, str(ws))
    manifest = await engine.load(saved.manifest)
    victim = next(e for e in manifest.files if e.path == "blob.bin").chunks[0][0]
    path = tmp_path / "blobs" / chunk_key(victim)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptBlob) as e:
        await engine.restore(manifest, str(tmp_path / "out"))
    assert victim in str(e.value)


async def test_the_s3_store_saves_and_restores_with_worker_processes(tmp_path: Path, s3_endpoint: str) -> None:
    engine = Engine(s3_url(s3_endpoint, f"b{uuid.uuid4().hex[:12]}"), workers=2)
    try:
        ws = tmp_path / "ws"
        fill_workspace(ws, big_mb=INLINE_BYTES // (1 << 20) + 1)  # more than a save chunks in-process
        saved = await engine.save(7, str(ws))
        again = await engine.save(7, str(ws), previous=await engine.load(saved.manifest))
        assert again.chunks_written == 0
        out = tmp_path / "out"
        await engine.restore(await engine.load(saved.manifest), str(out))
        assert snapshot(out) == snapshot(ws)
    finally:
        engine.close()
    shutil.rmtree(tmp_path / "ws")


async def test_a_dead_worker_fails_one_save_and_the_next_one_works(engine: Engine, tmp_path: Path) -> None:
    import signal

    from libs.testing.waiting import wait_for

    ws = tmp_path / "ws"
    fill_workspace(ws, big_mb=INLINE_BYTES // (1 << 20) + 1)  # more than a save chunks in-process
    await engine.save(1, str(ws))  # the pool's processes exist from here on
    pool: Any = engine._pool
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)  # as the OOM killer would
    await wait_for(lambda: pool._broken or None, within=30, what="the pool notices")
    (ws / "big.dat").write_bytes(os.urandom(INLINE_BYTES + 1))
    with pytest.raises(OSError, match="worker process died"):
        await engine.save(1, str(ws))
    again = await engine.save(1, str(ws))
    assert again.file_count == 4 and again.files_read == 4


async def test_a_small_change_set_is_saved_in_process_without_starting_a_worker(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path / "blobs"), workers=2)
    try:
        ws = tmp_path / "ws"
        fill_workspace(ws, big_mb=1)
        first = await engine.save(1, str(ws))
        (ws / "notes" / "a.txt").write_text("changed\n")
        second = await engine.save(1, str(ws), previous=await engine.load(first.manifest, cached=True))
        assert (first.files_read, second.files_read, second.chunks_written) == (4, 1, 1)
        pool: Any = engine._pool
        assert not pool._processes  # no worker process was started for either
        out = tmp_path / "out"
        await engine.restore(await engine.load(second.manifest), str(out))
        assert snapshot(out) == snapshot(ws)
    finally:
        engine.close()


async def test_a_large_file_is_saved_and_restored_in_segments_and_a_change_rewrites_only_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "SEGMENT", 2 << 20)  # threads (workers=0) see it; worker processes would not
    engine = Engine(str(tmp_path / "blobs"), workers=0)
    try:
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "large.bin").write_bytes(os.urandom(9 << 20) + b"z" * (3 << 20))
        first = await engine.save(1, str(ws))
        [entry] = (await engine.load(first.manifest)).files
        assert len(chunks.pieces(entry.path, entry.size)) == 6 and sum(n for _, n in entry.chunks) == 12 << 20
        _overwrite(ws / "large.bin", 5 << 20, os.urandom(1000))
        second = await engine.save(1, str(ws), previous=await engine.load(first.manifest))
        assert 0 < second.chunks_written <= 3  # the chunks around the change, not the whole file
        out = tmp_path / "out"
        (ws / "large.bin").chmod(0o600)
        third = await engine.save(1, str(ws), previous=await engine.load(second.manifest))
        restored = await engine.restore(await engine.load(third.manifest), str(out))
        assert restored.files_written == 1 and snapshot(out) == snapshot(ws)  # content and mode
        assert (out / "large.bin").stat().st_mtime_ns == (ws / "large.bin").stat().st_mtime_ns
        assert [p.name for p in out.iterdir()] == ["large.bin"]  # no temporary left beside it
    finally:
        engine.close()


async def test_a_save_reencodes_only_the_entries_that_changed_and_the_manifest_is_the_same(
        engine: Engine, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    fill_workspace(ws)
    first = await engine.save(1, str(ws))
    base = await engine.load(first.manifest, cached=True)
    (ws / "blob.bin").write_bytes(b"new")
    second = await engine.save(1, str(ws), previous=base)
    again = await engine.load(second.manifest, cached=True)
    kept = [e for e in again.entries if e.path != "blob.bin"]
    assert all(any(e is b for b in base.entries) for e in kept)  # the base's own objects, encoded once
    fresh = Manifest.decode(await asyncio.to_thread(engine.store.get, second.manifest.uri))
    assert fresh == again and fresh.encode() == again.encode(like=base)  # byte for byte as a fresh encoding


async def test_a_damaged_chunk_of_a_large_file_fails_its_restore_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "SEGMENT", 2 << 20)
    engine = Engine(str(tmp_path / "blobs"), workers=0)
    try:
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "large.bin").write_bytes(os.urandom(8 << 20))
        manifest = await engine.load((await engine.save(1, str(ws))).manifest)
        victim = manifest.files[0].chunks[-1][0]  # in the last segment
        (tmp_path / "blobs" / chunk_key(victim)).write_bytes(b"damaged")
        out = tmp_path / "out"
        with pytest.raises(CorruptBlob) as e:
            await engine.restore(manifest, str(out))
        assert victim in str(e.value) and list(out.iterdir()) == []
    finally:
        engine.close()


async def test_a_version_1_manifest_still_restores_and_the_next_save_names_chunks_by_blake3(
        engine: Engine, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    data = os.urandom(300_000)
    (ws / "old.bin").write_bytes(data)
    mtime = (ws / "old.bin").stat().st_mtime_ns
    sha = hashlib.sha256(data).hexdigest()  # as a version 1 save stored it
    engine.store.put(chunk_key(sha), zstandard.ZstdCompressor().compress(data))
    blob = Manifest((Entry("old.bin", FILE, 0o644, mtime, len(data), ((sha, len(data)),)),), version=1).encode()
    ref = reference(1, blob)
    engine.store.put(ref.uri, blob)
    old = await engine.load(ref)
    out = tmp_path / "out"
    await engine.restore(old, str(out))  # verified by SHA-256
    assert old.version == 1 and (out / "old.bin").read_bytes() == data

    saved = await engine.save(1, str(ws), previous=old)
    assert saved.files_read == 1  # its chunk names are of the other hash: read once more
    new = await engine.load(saved.manifest)
    offsets = [0]
    for _, n in new.files[0].chunks:
        offsets.append(offsets[-1] + n)
    assert new.version == 2 and [name for name, _ in new.files[0].chunks] == [
        blake3.blake3(data[a:b]).hexdigest() for a, b in itertools.pairwise(offsets)]


def test_the_walk_in_batches_is_the_walk(tmp_path: Path) -> None:
    """What a save sorts as the walk goes (``scan_in_batches``) is ``scan``'s list, cut up: the same entries in the
    same order (a folder's subfolders and links to folders, its files, then each subfolder), excludes left out."""
    from services.checkpoints.storage.scan import scan, scan_in_batches

    ws = tmp_path / "ws"
    for d in ("b", "a/deep/er", "c", "data"):
        (ws / d).mkdir(parents=True)
    for i in range(20):
        (ws / ("a/deep" if i % 3 else "b") / f"f{i:02}").write_text(str(i))
    (ws / "z.txt").write_text("z")
    (ws / "data" / "mounted").write_text("never saved")
    os.symlink("z.txt", ws / "link")
    os.symlink("b", ws / "to-b")
    whole = scan(str(ws), ("data",))
    cut: list[list[Entry]] = []
    scan_in_batches(str(ws), ("data",), cut.append, size=3)
    assert [e for batch in cut for e in batch] == whole and len(cut) > 1  # handed over folder by folder
    paths = [e.path for e in whole]
    assert paths[:5] == ["a", "b", "c", "to-b", "link"]  # folders (a link to one among them), then the files
    assert "data" not in paths and not any(p.startswith("data/") for p in paths)
    assert paths.index("a/deep") < paths.index("a/deep/er") < paths.index("a/deep/f01")
