"""The workspace Studios settings aggregate (``studiosettings-<workspaceId>``). Pure.

Seqera's ``DataStudioWorkspaceSettingsRequest`` changes only the fields it sends; a field sent as null goes back
to its default. Each change records the whole settings record (``StudioWorkspaceSettingsChanged``), so the read
model never merges; a change that changes nothing records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, get_args

from libs.contracts.errors import InvalidInput
from libs.contracts.events import Event
from libs.contracts.studio_settings import NameStrategy, StudioWorkspaceSettingsChanged

NAME_STRATEGIES: tuple[str, ...] = get_args(NameStrategy)


@dataclass(frozen=True)
class Values:
    """The settings themselves, with the defaults a workspace that never set them has."""

    lifespan_hours: int = 0  # 0: unlimited
    private_studio_by_default: bool = False
    container_repository: str | None = None
    name_strategy: str | None = None
    idle_timeout_minutes: float | None = None  # None: the service's default; 0: never


FIELDS: tuple[str, ...] = tuple(asdict(Values()))


@dataclass(frozen=True)
class Settings:
    exists: bool = False
    org_id: str | None = None
    values: Values = field(default_factory=Values)


INITIAL = Settings()


@dataclass(frozen=True)
class ChangeSettings:
    """``changes``: the fields the request sent (Seqera's names in snake case), None meaning "back to default"."""

    workspace_id: str
    org_id: str
    changes: Mapping[str, Any]
    now: datetime
    actor: str


def _changed(values: Values, changes: Mapping[str, Any]) -> Values:
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown Studios settings: {', '.join(unknown)}")
    defaults = Values()
    new = replace(values, **{f: getattr(defaults, f) if v is None else v for f, v in changes.items()})
    if new.lifespan_hours < 0:
        raise InvalidInput("lifespanHours must not be negative", field="lifespanHours")
    if new.idle_timeout_minutes is not None and not 0 <= new.idle_timeout_minutes <= 10**6:
        raise InvalidInput("idleTimeoutMinutes must be between 0 (never) and 1000000", field="idleTimeoutMinutes")
    if new.name_strategy is not None and new.name_strategy not in NAME_STRATEGIES:
        raise InvalidInput(f"nameStrategy must be one of {', '.join(NAME_STRATEGIES)}", field="nameStrategy")
    return new


def decide(state: Settings, c: ChangeSettings) -> list[Event]:
    new = _changed(state.values, c.changes)
    if state.exists and new == state.values and state.org_id == c.org_id:
        return []
    return [StudioWorkspaceSettingsChanged(workspace_id=c.workspace_id, org_id=c.org_id, at=c.now, actor=c.actor,
                                           **asdict(new))]


def evolve(state: Settings, e: Event) -> Settings:
    if isinstance(e, StudioWorkspaceSettingsChanged):
        values = Values(e.lifespan_hours, e.private_studio_by_default, e.container_repository, e.name_strategy,
                        e.idle_timeout_minutes)
        return Settings(True, e.org_id, values)
    return state
