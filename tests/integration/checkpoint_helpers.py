"""Helpers for the checkpoint tests: a real S3-compatible server (moto in server mode, its own process) and a
workspace with every kind of entry a checkpoint must bring back."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats

from libs.bus.commands import CommandClient
from libs.bus.streams import Topology, delete_streams
from libs.contracts.checkpoint_commands import (
    CollectGarbage,
    DeleteCheckpoint,
    RenameCheckpoint,
    RestoreCheckpoint,
    SaveCheckpoint,
)
from libs.contracts.subjects import command_subject
from libs.contracts.zone_commands import CheckZoneConflicts, PullZone, PushZone
from libs.platform.signals import Stop
from libs.testing.s3 import s3_endpoint
from libs.testing.waiting import wait_for

# The moto server fixture is shared (libs/testing/s3.py); imported here so the checkpoint modules keep theirs.
__all__ = ["fill_workspace", "running_checkpoints", "s3_endpoint", "s3_url", "snapshot"]


def s3_url(endpoint: str, bucket: str) -> str:
    from services.checkpoints.blobstores.s3 import S3BlobStore

    S3BlobStore(bucket, endpoint=endpoint).create_bucket()
    return f"s3://{bucket}/studios?endpoint={endpoint}"


def fill_workspace(root: Path, big_mb: int = 8) -> None:
    """Text, binary, an executable, a symlink, an empty directory, a nested folder and one large file."""
    (root / "notes").mkdir(parents=True, exist_ok=True)
    (root / "notes" / "a.txt").write_text("hello checkpoint\n" * 1000)
    (root / "blob.bin").write_bytes(os.urandom(300_000))
    tool = root / "run.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    (root / "link").symlink_to("notes/a.txt")
    (root / "empty").mkdir(exist_ok=True)
    with open(root / "big.dat", "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(big_mb):
            f.write(block[i:] + block[:i] if i % 2 else b"z" * (1 << 20))


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes | str | None]]:
    """Every entry's kind, mode and content (a symlink's target), to compare two trees byte for byte."""
    out: dict[str, tuple[str, int, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = str(full.relative_to(root))
            st = full.lstat()
            if full.is_symlink():
                out[rel] = ("link", 0, os.readlink(full))
            elif full.is_dir():
                out[rel] = ("dir", st.st_mode & 0o7777, None)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, full.read_bytes())
    return out




@contextlib.asynccontextmanager
async def running_checkpoints(database_url: str, nats_url: str, data_dir: Path,
                              **overrides: Any) -> AsyncIterator[CommandClient]:
    """The checkpoints service in process until the block ends; yields a command client for it."""
    from services.checkpoints import main as checkpoints_main
    from services.checkpoints.settings import CheckpointsSettings

    settings = CheckpointsSettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(data_dir),
                                   STUDIOS_CHECKPOINT_WORKERS=2, STUDIOS_CHECKPOINT_GC_INTERVAL_SECONDS=0,
                                   **overrides)
    topology = Topology.unique("cp")
    stop = Stop()
    task = asyncio.create_task(checkpoints_main.run(settings, stop, topology))
    nc = await nats.connect(nats_url)
    try:
        await wait_for(lambda: _answering(nc, task), within=30, what="the checkpoints service answers")
        yield CommandClient(nc, timeout=60)
    finally:
        stop.request(system_shutdown=False)
        await asyncio.wait_for(task, 60)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()


SERVED = (SaveCheckpoint, RestoreCheckpoint, RenameCheckpoint, DeleteCheckpoint, CollectGarbage, PushZone, PullZone,
          CheckZoneConflicts)


async def _answering(nc: Any, task: asyncio.Task[None]) -> bool | None:
    if task.done():
        task.result()  # it failed to start: say why
    try:  # every command it serves: FastStream starts subscribers in no fixed order
        for command in SERVED:
            await nc.request(command_subject(command.service, command.name), b"{}", timeout=0.5)
        return True
    except Exception:
        return None  # wait_for polls until a value that is not None


__all__ = ["fill_workspace", "running_checkpoints", "s3_endpoint", "s3_url", "snapshot"]
