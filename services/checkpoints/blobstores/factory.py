"""Which blob store adapter a URL names: the one place that knows every adapter (the port, ``base.py``, knows none).

Adapters are imported on demand so that a worker process loads only the one it uses (``s3`` pulls in boto3).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from services.checkpoints.blobstores.base import BlobStore


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
