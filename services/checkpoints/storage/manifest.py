"""A checkpoint's manifest: every entry of the workspace (path, kind, mode, mtime, size, chunk list, symlink
target), stored zstd-compressed JSON under ``manifests/<checkpointId>/<sha256>``, named by its own digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import zstandard

from libs.contracts.checkpoint import ManifestRef

VERSION = 2  # 2: chunks named by BLAKE3; 1 (still read, restored and verified): by SHA-256
FILE, DIR, LINK = "f", "d", "l"


@dataclass(frozen=True)
class Entry:
    path: str  # relative, "/"-separated
    kind: str  # FILE, DIR or LINK
    mode: int = 0o644
    mtime_ns: int = 0
    size: int = 0
    chunks: tuple[tuple[str, int], ...] = ()  # (digest of the plain bytes, length)
    target: str | None = None  # a symlink's

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"p": self.path, "t": self.kind, "m": self.mode, "mt": self.mtime_ns}
        if self.kind == FILE:
            out |= {"s": self.size, "c": [list(c) for c in self.chunks]}
        if self.target is not None:
            out["l"] = self.target
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entry:
        return cls(d["p"], d["t"], d["m"], d["mt"], d.get("s", 0), tuple((c[0], c[1]) for c in d.get("c", ())),
                   d.get("l"))


@dataclass(frozen=True)
class Manifest:
    entries: tuple[Entry, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION  # which hash names its chunks (``chunks.digest``)
    #: each entry's JSON by the entry object's id, once encoded: an interim save shares most entry objects with
    #: its base manifest (``encode(like=...)``) and so encodes only what changed
    _json: dict[int, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == FILE]

    @property
    def size(self) -> int:
        return sum(e.size for e in self.files)

    def chunk_ids(self) -> set[str]:
        return {c[0] for e in self.files for c in e.chunks}

    def encode(self, like: Manifest | None = None) -> bytes:
        """zstd'd JSON; ``like``: a manifest this one shares entry objects with, whose encodings are reused (an
        id is that object's alone while ``like`` holds it, and ``like`` holds every entry its cache names)."""
        done, mine = (like._json if like is not None else {}), self._json
        parts = []
        for e in self.entries:
            part = done.get(id(e)) or mine.get(id(e))
            if part is None:
                part = _compact(e.to_json()).encode()
            mine[id(e)] = part
            parts.append(part)
        head = f'{{"version":{self.version},"meta":{_compact(self.meta)},"entries":['.encode()
        return zstandard.ZstdCompressor(level=3).compress(b"".join((head, b",".join(parts), b"]}")))

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        body = json.loads(zstandard.ZstdDecompressor().decompress(data))
        if body.get("version") not in (1, VERSION):
            raise ValueError(f"unknown manifest version {body.get('version')!r}")
        return cls(tuple(Entry.from_json(e) for e in body["entries"]), body.get("meta") or {}, body["version"])


_compact = json.JSONEncoder(separators=(",", ":")).encode


def manifest_key(checkpoint_id: int, digest: str) -> str:
    return f"manifests/{checkpoint_id}/{digest}"


def reference(checkpoint_id: int, data: bytes) -> ManifestRef:
    digest = hashlib.sha256(data).hexdigest()
    return ManifestRef(uri=manifest_key(checkpoint_id, digest), sha256=digest, size=len(data))


class CorruptBlob(Exception):
    """A stored blob whose digest does not match its name (or that is missing): the checkpoint is broken."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(key, detail)  # both in args: it crosses from a worker process by pickling
        self.key, self.detail = key, detail

    def __str__(self) -> str:
        return f"{self.key}: {self.detail}"


def verified(ref: ManifestRef, data: bytes) -> Manifest:
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise CorruptBlob(ref.uri, "manifest digest mismatch")
    return Manifest.decode(data)
