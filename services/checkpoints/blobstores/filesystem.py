"""Blobs as files under one folder (the default: ``<data dir>/checkpoints``). A put writes a temporary file
beside the target and renames it into place, so a killed writer never leaves a partial blob under a real name;
leftover temporaries (``*.tmp-*``) are removed by garbage collection once past its grace period."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from services.checkpoints.blobstores.base import BlobInfo, BlobNotFound

TMP = ".tmp-"


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root = str(self.root)
        self._pending: list[str] = []
        self.url = self.root.as_uri()

    def _path(self, key: str) -> str:
        # plain string checks, not Path.resolve(): this runs for every chunk a save looks up or writes
        if not key or key.startswith("/") or ".." in key.split("/") or "\0" in key:
            raise ValueError(f"blob key {key!r} leaves the store")
        return os.path.join(self._root, key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = f"{path}{TMP}{uuid.uuid4().hex}"
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            f = open(tmp, "wb")
        with f:
            f.write(data)
        os.replace(tmp, path)  # durable at the next flush(), after the whole batch is written
        self._pending.append(path)

    def flush(self) -> None:
        """fsync what this instance put since the last flush, then their folders (the renames): only our own
        files, so a busy neighbour's dirty pages are not ours to wait for (syncfs would be)."""
        pending, self._pending = self._pending, []
        for path in pending:
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile (a collection): nothing to keep
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        for folder in {os.path.dirname(p) for p in pending}:
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        base = self.root
        for dirpath, _, files in os.walk(base):
            for name in files:
                full = os.path.join(dirpath, name)
                key = os.path.relpath(full, base).replace(os.sep, "/")
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue  # deleted meanwhile
                yield BlobInfo(key, st.st_size, st.st_mtime)
