"""The file-sync zone aggregate (one stream per stored copy, ``zone-<scope>``) and three-way conflict detection.
Pure: no I/O, no clock. The handlers (``zone_handlers.py``) copy files, then record the sync here.

- ``RecordSync`` -> ``ZoneSynced``. A push leaves the stored copy as it was and makes it this studio's base; a pull
  makes the folder's content the stored copy and this studio's base.
- ``conflicts(base, studio, stored)``: what changed on each side since the base (the studio's last sync), and
  the paths both changed to different content: Dataiku's ``added``/``modified``/``deleted`` (named by the studio's
  side of the change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from libs.contracts.checkpoint import ManifestRef
from libs.contracts.errors import InvalidInput
from libs.contracts.events import Event
from libs.contracts.zone import ZONES, SyncDirection, ZoneSynced

Digests = Mapping[str, str]  # relative path -> sha256 of the content ("link:<target>" for a symlink)


class State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    exists: bool = False
    scope: str = ""
    zone: str = ""
    stored: ManifestRef | None = None  # the stored copy (None: empty, never pulled)
    syncs: int = 0
    bases: dict[str, tuple[int, ManifestRef]] = {}  # session -> (sync number, manifest) of its last sync
    pulls: tuple[tuple[int, str], ...] = ()  # (sync number, actor) of every pull

    def base_of(self, session_id: str) -> ManifestRef | None:
        found = self.bases.get(session_id)
        return found[1] if found else None

    def authors_since(self, session_id: str) -> list[str]:
        """Who changed the stored copy since this studio last synced (Dataiku's ``authors``)."""
        since = self.bases.get(session_id, (0, None))[0]
        return sorted({actor for n, actor in self.pulls if n > since})


INITIAL = State()


class RecordSync(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: str
    zone: str
    session_id: str
    direction: SyncDirection
    manifest: ManifestRef
    files: int
    size: int
    copied: int
    copied_size: int
    now: AwareDatetime
    actor: str


def check_zone(zone: str) -> str:
    if zone not in ZONES:
        raise InvalidInput(f"Unknown zone '{zone}': one of {', '.join(ZONES)}", field="zone")
    return zone


def decide(state: State, c: RecordSync) -> list[Event]:
    check_zone(c.zone)
    return [ZoneSynced(scope=c.scope, zone=c.zone, session_id=c.session_id, direction=c.direction,
                       manifest=c.manifest, files=c.files, size=c.size, copied=c.copied, copied_size=c.copied_size,
                       at=c.now, actor=c.actor)]


def evolve(state: State, event: Event) -> State:
    if not isinstance(event, ZoneSynced):
        return state
    n = state.syncs + 1
    changes: dict[str, Any] = {"exists": True, "scope": event.scope, "zone": event.zone, "syncs": n,
                               "bases": {**state.bases, event.session_id: (n, event.manifest)}}
    if event.direction is SyncDirection.PULL:
        changes["stored"] = event.manifest
        changes["pulls"] = (*state.pulls, (n, event.actor))
    return state.model_copy(update=changes)


@dataclass(frozen=True)
class Changes:
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    def paths(self) -> set[str]:
        return {*self.added, *self.modified, *self.deleted}

    def out(self) -> dict[str, list[str]]:
        return {"added": list(self.added), "modified": list(self.modified), "deleted": list(self.deleted)}


def changes(before: Digests, after: Digests) -> Changes:
    return Changes(added=tuple(sorted(p for p in after if p not in before)),
                   modified=tuple(sorted(p for p in after if p in before and before[p] != after[p])),
                   deleted=tuple(sorted(p for p in before if p not in after)))


def conflicts(base: Digests, studio: Digests, stored: Digests) -> tuple[Changes, Changes, Changes]:
    """(studio's changes, stored copy's changes, conflicts): a conflict is a path both sides changed since the
    base and that they do not now hold alike (the same edit made on both sides is no conflict)."""
    mine, theirs = changes(base, studio), changes(base, stored)
    both = {p for p in mine.paths() & theirs.paths() if studio.get(p) != stored.get(p)}
    clash = Changes(added=tuple(p for p in mine.added if p in both),
                    modified=tuple(p for p in mine.modified if p in both),
                    deleted=tuple(p for p in mine.deleted if p in both))
    return mine, theirs, clash
