"""Settings of the checkpoints service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from libs.platform.settings import PlatformSettings


class CheckpointsSettings(PlatformSettings):
    #: Where chunks and manifests go: ``file:///path`` (default ``<data dir>/checkpoints``) or
    #: ``s3://bucket/prefix?endpoint=https://host&region=r`` (credentials from the AWS environment, never here).
    store_url: str | None = Field(None, alias="STUDIOS_CHECKPOINT_STORE")
    #: Worker processes for saves and restores; default: one per core.
    workers: int | None = Field(None, alias="STUDIOS_CHECKPOINT_WORKERS", ge=0)
    #: A running session's checkpoint is saved again every this many minutes (Seqera: 5); 0: only at start/stop.
    interim_minutes: float = Field(5.0, alias="STUDIOS_CHECKPOINT_INTERVAL_MINUTES", ge=0)
    #: Garbage collection runs this often; 0: only when asked (``collect_garbage``).
    gc_interval_seconds: float = Field(3600.0, alias="STUDIOS_CHECKPOINT_GC_INTERVAL_SECONDS", ge=0)
    #: What no checkpoint references is deleted only once older than this.
    gc_grace_seconds: float = Field(3600.0, alias="STUDIOS_CHECKPOINT_GC_GRACE_SECONDS", ge=0)

    @property
    def blobstore_url(self) -> str:
        return self.store_url or str(self.blobs_dir)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir.resolve() / "checkpoints"
