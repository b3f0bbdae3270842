"""Presentation helpers the templates use as Jinja filters: initials for avatars, a badge class per status, times."""

from __future__ import annotations

import hashlib
from datetime import datetime

from jinja2 import Environment

#: statuses that change by themselves: their pages keep polling (the others are settled)
MOVING = frozenset({"starting", "stopping", "building", "running"})
_BADGES = {"running": "ok", "starting": "busy", "building": "busy", "stopping": "busy", "stopped": "idle",
           "errored": "bad", "buildFailed": "bad"}


_JOB_BADGES = {"COMPLETE": "ok", "FAILED": "bad", "CANCELED": "idle", "CANCELING": "busy"}
_BUILD_BADGES = {"succeeded": "ok", "failed": "bad", "cancelled": "idle"}


def job_badge(status: str | None) -> str:
    return _JOB_BADGES.get(status or "", "busy")


def build_badge(status: str | None) -> str:
    return _BUILD_BADGES.get(status or "", "busy")


def initials(name: str | None) -> str:
    parts = [p for p in (name or "?").replace(".", " ").replace("-", " ").replace("_", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


def hue(name: str | None) -> int:
    """A stable colour per person, so the same initials look the same on every page."""
    return int(hashlib.sha256((name or "").encode()).hexdigest()[:4], 16) % 360


def badge(status: str | None) -> str:
    return _BADGES.get(status or "", "idle")


def when(value: object) -> str:
    if not value:  # None, "" or a field the DTO left out (Jinja's Undefined)
        return "—"
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def install_filters(env: Environment) -> None:
    env.filters.update(initials=initials, hue=hue, badge=badge, when=when, jobbadge=job_badge,
                       buildbadge=build_badge)
    env.globals["MOVING"] = MOVING
