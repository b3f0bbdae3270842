"""Dataiku's file-sync zones of a code studio: ``check_conflicts``, ``pull_from_code_studio``,
``push_to_code_studio`` (GETs, as the client sends them)."""

from __future__ import annotations

#: Dataiku's usual synced zones, every code studio has them (folders of the same names in its workspace)
ZONES = ("code_studio-versioned", "user-versioned", "project_lib-versioned")
