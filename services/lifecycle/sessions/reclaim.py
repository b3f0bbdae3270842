"""What a deleted studio leaves on this host, given back: its workspace folder, its data-link copies, and what a
backend keeps for the folder (the docker backend's named volume).

A studio is deleted only at rest (``studio/aggregate.py``: stop it first), so no tool of it runs and nothing of it
is in use. Every replica reclaims on its own host, leader or not, on each reconcile pass: the folders are where
the starts that made them ran. One query a pass tells which of the studios with folders here are deleted; folding
each studio's stream every pass would read every studio ever started, every 15 s.

Removal stays inside the folder (``libs/platform/folders.py``): a symlink is removed, never followed (a data link
shown as a symlink points at the link's own folder), and a folder that holds a mount point of another file system
is left whole, with a warning: a tool's read-only mounts live in its own mount namespace and end with it, so a
mount seen here is an operator's. What the checkpoints service stored for the studio is its own, and stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from libs.contracts.studio import StudioDeleted, stream_name
from libs.eventstore import EventStore
from libs.platform.folders import remove_tree
from services.lifecycle.backends.base import ComputeBackend, KeepsWorkspaceObjects
from services.lifecycle.datalinks.copies import S3Copies

log = logging.getLogger("studios.lifecycle.reclaim")

_DELETED = "SELECT stream_name FROM es.events WHERE stream_name = ANY($1::text[]) AND event_type = $2"


@dataclass
class Reclaimed:
    """One pass: the deleted studios whose files went, and those whose workspace had to stay (a mount inside, a
    volume in use, files it may not remove): those are tried again on the next pass."""

    studios: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def studio_folders(root: Path) -> list[str]:
    """The folders under ``root``, one per studio that ran here (symlinks are not the service's folders)."""
    try:
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []


class Reclaimer:
    """Gives back what deleted studios left on this host (see the module's docstring)."""

    def __init__(self, store: EventStore, workspaces: Path, copies: S3Copies | None = None,
                 backend: ComputeBackend | None = None) -> None:
        self.store, self.workspaces, self.copies, self.backend = store, workspaces, copies, backend
        self._warned: set[str] = set()  # a workspace that cannot go is said once, not every pass

    async def deleted(self, studio_ids: Sequence[str]) -> set[str]:
        """Which of ``studio_ids`` are deleted: one query, by the streams' index."""
        if not studio_ids:
            return set()
        streams = {stream_name(i): i for i in studio_ids}
        rows = await self.store.pool.fetch(_DELETED, list(streams), StudioDeleted.event_type)
        return {streams[r["stream_name"]] for r in rows}

    async def run_once(self) -> Reclaimed:
        copies = await asyncio.to_thread(self.copies.studios) if self.copies is not None else []
        folders = await asyncio.to_thread(studio_folders, self.workspaces)
        done = Reclaimed()
        for studio_id in sorted(await self.deleted(sorted({*copies, *folders}))):
            if studio_id in copies and self.copies is not None:
                log.info("studio %s was deleted: removing its data-link copies", studio_id)
                await asyncio.to_thread(self.copies.remove, studio_id)
            kept = studio_id in folders and not await self._remove_workspace(studio_id)
            (done.kept if kept else done.studios).append(studio_id)
        return done

    async def _remove_workspace(self, studio_id: str) -> bool:
        folder = self.workspaces / studio_id
        try:
            if isinstance(self.backend, KeepsWorkspaceObjects) and \
                    not await self.backend.forget_workspace(studio_id, folder):
                return False  # in use: the backend said so; the folder it binds stays with it
            log.info("studio %s was deleted: removing its workspace folder %s", studio_id, folder)
            return await asyncio.to_thread(remove_tree, folder)
        except Exception as e:  # an engine away, another user's files: the next pass tries again
            if studio_id not in self._warned:
                self._warned.add(studio_id)
                log.warning("studio %s was deleted, but its workspace %s could not be removed yet: %s",
                            studio_id, folder, e)
            return False
