"""The local backend's memory across restarts: one JSON record per live session, ``<state_dir>/sessions/<id>.json``
(the handle, pid, create time, and the session's cgroup when it has one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from services.lifecycle.backends.base import Handle, LaunchSpec
from services.lifecycle.backends.cgroups import SessionGroup


class SessionRecords:
    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "sessions"

    def path(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.json"

    def exists(self, session_id: str) -> bool:
        return self.path(session_id).exists()

    def write(self, handle: Handle, spec: LaunchSpec | None, group: SessionGroup | None) -> None:
        record: dict[str, Any] = {**handle.to_dict(), "pid": int(handle.ident), "pgid": int(handle.ident),
                                  "create_time": handle.started_at}
        if spec is not None:
            record |= {"studio_id": spec.studio_id, "tool": spec.tool}
        if group is not None:
            record["cgroup"] = group.to_dict()
        path = self.path(handle.session_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)  # atomic: a crash never leaves a half-written record behind

    def remove(self, session_id: str) -> None:
        self.path(session_id).unlink(missing_ok=True)

    def handle(self, session_id: str) -> Handle | None:
        try:
            return Handle.from_dict(self._read(session_id))
        except (ValueError, KeyError):
            return None

    def group(self, session_id: str) -> SessionGroup | None:
        data = self._read(session_id).get("cgroup")
        return SessionGroup.from_dict(data) if isinstance(data, dict) else None

    def handles(self) -> Iterator[Handle]:
        for path in sorted(self.folder.glob("*.json")):
            handle = self.handle(path.stem)
            if handle is not None:
                yield handle

    def _read(self, session_id: str) -> dict[str, Any]:
        try:
            data = json.loads(self.path(session_id).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
