"""What a synchronised copy of a bucket prefix must change: pure, so it is tested without a store.

A copy keeps a manifest of what it holds (relative path -> ETag and size, as the bucket listed them when each file
was fetched). An object whose ETag and size match the manifest, and whose file is present, is not fetched again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from libs.datalinks.s3 import Obj


@dataclass(frozen=True)
class Plan:
    fetch: tuple[Obj, ...]  # new or changed objects
    keep: tuple[Obj, ...]  # unchanged: already in the copy
    remove: tuple[str, ...]  # files of the copy no longer in the bucket
    skipped: tuple[str, ...]  # keys that cannot be files here (unsafe, or a file under a file's name)

    @property
    def fetch_bytes(self) -> int:
        return sum(o.size for o in self.fetch)


def safe(key: str) -> bool:
    """A key that is a relative path staying inside the copy."""
    parts = key.split("/")
    return bool(key) and not key.startswith("/") and "\x00" not in key and all(
        p not in ("", ".", "..") for p in parts)


def plan(listing: Iterable[Obj], manifest: Mapping[str, tuple[str, int]], present: set[str]) -> Plan:
    fetch: list[Obj] = []
    keep: list[Obj] = []
    skipped: list[str] = []
    files: set[str] = set()
    folders: set[str] = set()
    for obj in sorted(listing, key=lambda o: o.key):
        parents = {str(p) for p in PurePosixPath(obj.key).parents if str(p) != "."}
        if not safe(obj.key) or obj.key in folders or parents & files:
            skipped.append(obj.key)  # "a" and "a/b" cannot both be on a filesystem: the folder's key loses
            continue
        files.add(obj.key)
        folders |= parents
        if manifest.get(obj.key) == (obj.etag, obj.size) and obj.key in present:
            keep.append(obj)
        else:
            fetch.append(obj)
    remove = tuple(sorted(p for p in present if p not in files))
    return Plan(tuple(fetch), tuple(keep), remove, tuple(skipped))
