"""Chunks: content-defined cuts (FastCDC, compiled), named by the BLAKE3 of their plain bytes (version 1
manifests: SHA-256), stored zstd-compressed. These functions run in worker processes, each with its own blob
store opened from the URL."""

from __future__ import annotations

import hashlib
import mmap
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import blake3
import zstandard
from pyfastcdc import FastCDC

from services.checkpoints.blobstores.base import BlobNotFound, BlobStore
from services.checkpoints.blobstores.factory import open_blobstore
from services.checkpoints.storage.manifest import VERSION, CorruptBlob, Entry

AVG_CHUNK = 512 * 1024  # FastCDC's min and max default to a quarter and four times this
LEVEL = 3

_stores: dict[str, BlobStore] = {}


def store_for(url: str) -> BlobStore:
    """One store per process and URL (a worker opens it on its first task)."""
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = open_blobstore(url)
    return store


def digest(data: bytes | memoryview, version: int = VERSION) -> str:
    """A chunk's name: BLAKE3 (a third of SHA-256's time here, and it is most of what a save of a changed large
    file spends); manifests of version 1 named theirs by SHA-256."""
    if version == 1:
        return hashlib.sha256(data).hexdigest()
    return str(blake3.blake3(data).hexdigest())


def chunk_key(sha: str) -> str:
    return f"chunks/{sha[:2]}/{sha}"


#: a file larger than this is chunked in segments of this size, each on its own worker (cuts restart at every
#: segment's start, so a change in a large file is re-hashed by every core, and the cuts resynchronise a chunk
#: or two after each segment's start, so a segment boundary costs almost no deduplication)
SEGMENT = 64 * 1024 * 1024

Piece = tuple[str, int, int]  # (path, offset, length): a whole file, or one segment of a large one


@dataclass(frozen=True)
class Written:
    path: str
    offset: int
    chunks: tuple[tuple[str, int], ...]
    bytes_written: int
    chunks_written: int


def pieces(path: str, size: int) -> list[Piece]:
    if size <= SEGMENT:
        return [(path, 0, size)]
    return [(path, off, min(SEGMENT, size - off)) for off in range(0, size, SEGMENT)]


def _cuts(cdc: FastCDC, full: str, offset: int, length: int) -> Iterator[memoryview | bytes]:
    """The piece's chunks, each valid until the next is asked for. A piece no longer than FastCDC's minimum is
    one chunk (as FastCDC would cut it), read plainly: most files of a workspace are small. A longer one is cut
    from a map of the file, as ``cut_file`` does (no copy); the map goes with the last view of it (closing it
    while a chunk's view lives would raise)."""
    with open(full, "rb", buffering=0) as f:
        if length <= cdc.min_size:
            f.seek(offset)
            yield f.read(length)
            return
        view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))[offset:offset + length]
    for chunk in cdc.cut_buf(view):
        yield chunk.data


def store_files(url: str, root: str, todo: Iterable[Piece], known: frozenset[str]) -> list[Written]:
    """Chunk each piece, and write the chunks not stored yet (``known``: in the previous manifest)."""
    store, cdc, zc = store_for(url), FastCDC(avg_size=AVG_CHUNK), zstandard.ZstdCompressor(level=LEVEL)
    out = []
    for rel, offset, length in todo:
        chunks, written, count = [], 0, 0
        if length:
            for data in _cuts(cdc, os.path.join(root, rel), offset, length):
                sha = digest(data)
                chunks.append((sha, len(data)))
                key = chunk_key(sha)
                if sha in known or store.exists(key):
                    continue  # a chunk already stored is not written again
                blob = zc.compress(data)
                store.put(key, blob)
                written, count = written + len(blob), count + 1
        out.append(Written(rel, offset, tuple(chunks), written, count))
    store.flush()  # this worker's chunks are durable before the save's manifest names them
    return out


@dataclass(frozen=True)
class Segment:
    """Part of a large file's chunks, written at ``offset`` into ``tmp`` (made and sized by the caller, then
    renamed into place): the segments of one file are written by every worker at once."""

    path: str
    tmp: str
    offset: int
    chunks: tuple[tuple[str, int], ...]

    @property
    def size(self) -> int:
        return sum(n for _, n in self.chunks)


def segments(e: Entry, tmp: str) -> list[Segment]:
    out: list[Segment] = []
    start = offset = 0
    group: list[tuple[str, int]] = []
    for sha, length in e.chunks:
        group.append((sha, length))
        offset += length
        if offset - start >= SEGMENT:
            out.append(Segment(e.path, tmp, start, tuple(group)))
            start, group = offset, []
    if group:
        out.append(Segment(e.path, tmp, start, tuple(group)))
    return out


def restore_files(url: str, root: str, items: Iterable[Entry | Segment], version: int = VERSION) -> list[str]:
    """Write each file (or segment) from its chunks, checking every chunk's digest (the hash of the manifest's
    ``version``); returns the paths written."""
    store, zd = store_for(url), zstandard.ZstdDecompressor()
    done = []
    for item in items:
        if isinstance(item, Segment):
            with open(os.path.join(root, item.tmp), "r+b") as f:
                f.seek(item.offset)
                _write(store, zd, f, item.path, item.chunks, version)
            done.append(item.path)
            continue
        target = os.path.join(root, item.path)
        tmp = f"{target}.restoring-{uuid.uuid4().hex[:8]}"  # a failed restore's leftovers go with the next one
        with open(tmp, "wb") as f:
            _write(store, zd, f, item.path, item.chunks, version)
        os.chmod(tmp, item.mode)
        os.utime(tmp, ns=(item.mtime_ns, item.mtime_ns))
        os.replace(tmp, target)
        done.append(item.path)
    return done


def _write(store: BlobStore, zd: zstandard.ZstdDecompressor, f: BinaryIO, path: str,
           chunks: Iterable[tuple[str, int]], version: int) -> None:
    for sha, length in chunks:
        key = chunk_key(sha)
        try:
            data = zd.decompress(store.get(key), max_output_size=length)
        except BlobNotFound:
            raise CorruptBlob(key, f"missing (needed by {path})") from None
        except zstandard.ZstdError as err:
            raise CorruptBlob(key, f"unreadable ({err}; needed by {path})") from None
        if len(data) != length or digest(data, version) != sha:
            raise CorruptBlob(key, f"digest mismatch (needed by {path})")
        f.write(data)
