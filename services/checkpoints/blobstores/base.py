"""The blob store port: a flat key space of immutable byte strings (chunks, manifests).

Synchronous on purpose: saves and restores run in worker processes (chunking and compression hold the GIL), and
each worker opens its own store from the store's URL (``open_blobstore``), so a store needs no pickling and no
event loop. Async callers use ``asyncio.to_thread``. A ``put`` is atomic: a reader sees the whole blob or none
(a save killed mid-write leaves no half chunk under its name); ``flush`` makes what this instance put durable: once per
batch of blobs, not once per blob.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit


class BlobNotFound(KeyError):
    pass


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: float  # seconds since the epoch: garbage collection spares what is younger than its grace period


class BlobStore(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]: ...

    def flush(self) -> None:
        """Make this instance's puts so far durable (before an event names those blobs)."""
        ...


def open_blobstore(url: str) -> BlobStore:
    """``file:///abs/path`` (or a plain path), ``s3://bucket/prefix?endpoint=http://host:port&region=r``, or
    ``memory://name`` (one store per name and process: tests)."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        from services.checkpoints.blobstores.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(Path(parts.path if parts.scheme else url))
    if parts.scheme == "s3":
        from services.checkpoints.blobstores.s3 import S3BlobStore

        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return S3BlobStore(parts.netloc, parts.path.strip("/"), endpoint=query.get("endpoint"),
                           region=query.get("region"), url=url)
    if parts.scheme == "memory":
        from services.checkpoints.blobstores.memory import MemoryBlobStore

        return MemoryBlobStore.named(parts.netloc or "default")
    raise ValueError(f"unknown blob store {url!r} (file://, s3:// or memory://)")
