"""First start: the admin user and token, the ``default`` organization and workspace, the ``local`` compute
environment (or ``docker``, with ``platform="docker-platform"``: compose). Idempotent (fixed ids below the id
sequence's start, creates that repeat are no-ops) and safe when two gateways start at once (every create appends
with ``no_stream``; the loser of a race re-reads and finds it done).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

from libs.eventstore import EventStore, WrongExpectedVersion
from libs.platform.clock import now as clock_now
from services.gateway.handlers import identity as h
from services.gateway.handlers import resources as r

ADMIN_USER_ID = 1
ADMIN_TOKEN_ID = 1
DEFAULT_ORG_ID = 1
DEFAULT_MEMBER_ID = 1
DEFAULT_WORKSPACE_ID = 1
DEFAULT_PARTICIPANT_ID = 1
LOCAL_COMPUTE_ENV_ID = "local"
#: the default compute environment's id, name and description by its platform
DEFAULT_ENVS = {"local-platform": (LOCAL_COMPUTE_ENV_ID, "This machine"),
                "docker-platform": ("docker", "Containers on this installation's Docker engine"),
                "k8s-platform": ("kubernetes", "Pods in this installation's Kubernetes namespace")}
ACTOR = "system"

T = TypeVar("T")


async def _once(step: Callable[[], Awaitable[T]]) -> T:
    """Run a create; if another gateway won the race on the same stream, run it again to see it done."""
    try:
        return await step()
    except WrongExpectedVersion:
        return await step()


def default_work_dir() -> str:
    return os.path.abspath(".studios/work")


async def ensure_defaults(store: EventStore, admin_token: str, *, work_dir: str | None = None,
                          allow_custom_commands: bool = False, platform: str = "local-platform") -> int | None:
    """Create what is missing; returns the last position appended (None when everything existed)."""
    now = clock_now()
    work = work_dir or default_work_dir()
    positions: list[int | None] = []
    _, p = await _once(lambda: h.create_user(store, user_name="admin", email="admin@localhost", actor=ACTOR,
                                             now=now, is_admin=True, user_id=ADMIN_USER_ID))
    positions.append(p)
    *_, p = await _once(lambda: h.issue_token(store, user_id=ADMIN_USER_ID, name="admin", actor=ACTOR, now=now,
                                              token=admin_token, token_id=ADMIN_TOKEN_ID, rotate=True))
    positions.append(p)
    _, p = await _once(lambda: h.create_org(store, name="default", full_name="Default organization",
                                            owner_user_id=ADMIN_USER_ID, actor=ACTOR, now=now,
                                            org_id=DEFAULT_ORG_ID, member_id=DEFAULT_MEMBER_ID))
    positions.append(p)
    _, p = await _once(lambda: h.create_workspace(store, org_id=DEFAULT_ORG_ID, name="default",
                                                  full_name="Default workspace", owner_user_id=ADMIN_USER_ID,
                                                  actor=ACTOR, now=now, visibility="SHARED",
                                                  workspace_id=DEFAULT_WORKSPACE_ID,
                                                  participant_id=DEFAULT_PARTICIPANT_ID))
    positions.append(p)
    env_id, description = DEFAULT_ENVS[platform]
    config: dict[str, object] = {"workDir": work}
    if platform == "local-platform":  # a container's command is the image's to run: no such switch there
        config["allowCustomCommands"] = allow_custom_commands
    _, p = await _once(lambda: r.create_compute_env(store, workspace_id=DEFAULT_WORKSPACE_ID, name=env_id,
                                                    platform=platform, config=config,
                                                    actor_is_admin=True, actor=ACTOR, now=now,
                                                    description=description, compute_env_id=env_id))
    positions.append(p)
    written = [x for x in positions if x is not None]
    return max(written) if written else None
