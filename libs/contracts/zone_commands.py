"""Commands to the checkpoints service about file-sync zones (``studios.cmd.checkpoints.<name>``).

The service finds the studio's workspace folder itself (the running session's checkpoint records it), so the
gateway needs to know nothing of where sessions live. ``now`` is re-stamped by the service's handler.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime

from libs.contracts.commands import Command


class ZoneCommand(Command):
    service: ClassVar[str] = "checkpoints"
    session_id: str
    zone: str
    now: AwareDatetime
    actor: str
    reason: str | None = None


class PushZone(ZoneCommand):
    """Copy the stored copy into the studio's zone folder (which then matches it); reply ``{count, size}``."""

    name: ClassVar[str] = "push_zone"


class PullZone(ZoneCommand):
    """Copy the studio's zone folder into the stored copy; reply ``{count, size}``."""

    name: ClassVar[str] = "pull_zone"


class CheckZoneConflicts(ZoneCommand):
    """Changes on each side since this studio's last sync, and the paths changed on both (the conflicts)."""

    name: ClassVar[str] = "check_zone_conflicts"
