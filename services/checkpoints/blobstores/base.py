"""The blob store port: a flat key space of immutable byte strings (chunks, manifests).

Synchronous on purpose: saves and restores run in worker processes (chunking and compression hold the GIL), and
each worker opens its own store from the store's URL (``factory.open_blobstore``), so a store needs no pickling and no
event loop. Async callers use ``asyncio.to_thread``. A ``put`` is atomic: a reader sees the whole blob or none
(a save killed mid-write leaves no half chunk under its name); ``flush`` makes what this instance put durable: once per
batch of blobs, not once per blob.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


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
