"""An in-process blob store for tests: a dict, with the filesystem store's semantics (proven by the contract
test). Saves with it run their workers in threads, as its blobs live in this process only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import ClassVar

from services.checkpoints.blobstores.base import BlobInfo, BlobNotFound


class MemoryBlobStore:
    _named: ClassVar[dict[str, MemoryBlobStore]] = {}

    def __init__(self, name: str = "default") -> None:
        self.url = f"memory://{name}"
        self._blobs: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def named(cls, name: str) -> MemoryBlobStore:
        return cls._named.setdefault(name, cls(name))

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._blobs[key] = (bytes(data), time.time())

    def get(self, key: str) -> bytes:
        with self._lock:
            if key not in self._blobs:
                raise BlobNotFound(key)
            return self._blobs[key][0]

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)

    def flush(self) -> None:
        pass  # nothing outlives the process anyway

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        with self._lock:
            items = [(k, v) for k, v in self._blobs.items() if k.startswith(prefix)]
        for key, (data, modified) in items:
            yield BlobInfo(key, len(data), modified)
