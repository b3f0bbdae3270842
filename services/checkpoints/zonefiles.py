"""A zone's files in the blob store, beside the checkpoints' chunks: each file's content as one blob named by its
sha256 (``zones/blobs/<sha>``: the same content is stored once), each synced state as a manifest
(``zones/manifests/<sha>``: path -> {sha, mode, size}; symlinks as ``link:<target>``). Garbage collection
(``gc.py``) keeps every manifest a zone still names (its stored copy, each studio's last sync) and the blobs those
list (``referenced``). Blocking: call in a thread.

Zones hold code and small files (what Dataiku syncs); a file is read whole, so very large files belong in the
workspace outside the zone folders (checkpointed as usual).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from typing import Any

from libs.contracts.checkpoint import ManifestRef
from services.checkpoints.blobstores.base import BlobNotFound, BlobStore

Files = dict[str, dict[str, Any]]  # path -> {"sha": ..., "mode": ..., "size": ...}


@dataclass(frozen=True)
class Copied:
    manifest: ManifestRef
    files: int
    size: int
    copied: int
    copied_size: int


def _blob(sha: str) -> str:
    return f"zones/blobs/{sha[:2]}/{sha}"


def scan(root: str) -> Files:
    """The folder's regular files and symlinks, hashed (a missing folder is an empty zone)."""
    out: Files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = {"sha": f"link:{os.readlink(full)}", "mode": 0o777, "size": 0}
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
                out[rel] = {"sha": hashlib.sha256(data).hexdigest(), "mode": stat.S_IMODE(st.st_mode),
                            "size": len(data), "_data": data}
    return out


def digests(files: Files) -> dict[str, str]:
    return {p: str(f["sha"]) for p, f in files.items()}


def save(store: BlobStore, root: str) -> Copied:
    """Store the folder as it is now: new contents as blobs, then the manifest."""
    files, copied, copied_size = scan(root), 0, 0
    for f in files.values():
        data = f.pop("_data", None)
        if data is not None and not store.exists(_blob(f["sha"])):
            store.put(_blob(f["sha"]), data)
            copied, copied_size = copied + 1, copied_size + len(data)
    return Copied(_put_manifest(store, files), len(files), sum(int(f["size"]) for f in files.values()),
                  copied, copied_size)


def _put_manifest(store: BlobStore, files: Files) -> ManifestRef:
    data = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    sha = hashlib.sha256(data).hexdigest()
    key = f"zones/manifests/{sha[:2]}/{sha}"
    store.put(key, data)
    return ManifestRef(uri=key, sha256=sha, size=len(data))


def empty(store: BlobStore) -> ManifestRef:
    return _put_manifest(store, {})


def load(store: BlobStore, ref: ManifestRef | None) -> Files:
    if ref is None:
        return {}
    try:
        data = store.get(ref.uri)
    except BlobNotFound:
        raise ValueError(f"zone manifest {ref.uri} is missing") from None
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise ValueError(f"zone manifest {ref.uri} is damaged")
    loaded: Files = json.loads(data)
    return loaded


def restore(store: BlobStore, files: Files, root: str) -> tuple[int, int]:
    """Make the folder hold exactly ``files``: write what differs, remove what the stored copy does not have.
    Returns (files written, bytes written)."""
    os.makedirs(root, exist_ok=True)
    present = scan(root)
    for rel in present.keys() - files.keys():
        os.remove(os.path.join(root, rel))
    written, size = 0, 0
    for rel, f in sorted(files.items()):
        have = present.get(rel)
        full = os.path.join(root, rel)
        if have is not None and have["sha"] == f["sha"]:
            if have["mode"] != f["mode"] and not str(f["sha"]).startswith("link:"):
                os.chmod(full, int(f["mode"]))
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.lexists(full):
            os.remove(full)
        sha = str(f["sha"])
        if sha.startswith("link:"):
            os.symlink(sha[len("link:"):], full)
        else:
            data = store.get(_blob(sha))
            if hashlib.sha256(data).hexdigest() != sha:
                raise ValueError(f"zone blob {sha} is damaged")
            with open(full, "wb") as out:
                out.write(data)
            os.chmod(full, int(f["mode"]))
            size += len(data)
        written += 1
    return written, size


def referenced(store: BlobStore, refs: list[ManifestRef]) -> set[str]:
    """The keys that ``refs`` keep alive: the manifests themselves and every content blob they list. A manifest
    that cannot be read raises ``ValueError``: then what it needs is unknown, and the caller deletes nothing."""
    keys = {ref.uri for ref in refs}
    for ref in refs:
        keys |= {_blob(str(f["sha"])) for f in load(store, ref).values() if not str(f["sha"]).startswith("link:")}
    return keys

