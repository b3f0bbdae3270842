"""Aggregates of workspace resources: compute environment (``computeenv-<id>``), data link (``datalink-<id>``),
label (``label-<id>``). Pure. They share one state, one ``decide`` and one ``evolve``.

Two rules guard the host: a local compute environment that lets the ``custom`` tool run any command, and a
``file://`` data link that exposes a host folder, may only be created by a system administrator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from libs.contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from libs.contracts.events import Event
from libs.contracts.identity import ComputeEnvCreated, ComputeEnvDeleted, DataLinkCreated, LabelCreated
from services.gateway.domain.checks import check_text
from services.gateway.domain.computeenv_config import validate_config

RESOURCE_NAME = re.compile(r"^[A-Za-z\d][\w.-]{0,99}$")
LABEL_NAME = re.compile(r"^[A-Za-z\d](?:[\w-]{0,37}[A-Za-z\d])?$")
PROVIDERS = {"file": "local", "s3": "aws", "gs": "google", "az": "azure"}  # "local" is our extension


def check_resource_name(value: str, what: str) -> None:
    if not RESOURCE_NAME.match(value):
        raise InvalidInput(f"Invalid {what} name '{value}': 1-100 letters, digits, '.', '_' or '-'")


@dataclass(frozen=True)
class Resource:
    """State of any of the three: whether it exists, its workspace and name, whether it was deleted."""

    exists: bool = False
    workspace_id: int = 0
    name: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class CreateComputeEnv:
    compute_env_id: str
    workspace_id: int
    name: str
    platform: str
    config: Any
    actor_is_admin: bool
    now: datetime
    actor: str
    description: str | None = None
    credentials_id: str | None = None


@dataclass(frozen=True)
class DeleteComputeEnv:
    compute_env_id: str
    now: datetime
    actor: str


def _compute_env(state: Resource, c: CreateComputeEnv | DeleteComputeEnv) -> list[Event]:
    if isinstance(c, DeleteComputeEnv):
        if not state.exists or state.deleted:
            raise NotFound(f"Compute environment {c.compute_env_id} not found")
        return [ComputeEnvDeleted(compute_env_id=c.compute_env_id, workspace_id=state.workspace_id, at=c.now,
                                  actor=c.actor)]
    if state.exists:
        if (state.workspace_id, state.name) == (c.workspace_id, c.name):
            return []
        raise Conflict(f"Compute environment {c.compute_env_id} already exists")
    check_resource_name(c.name, "compute environment")
    check_text(c.description, "description", 1000)
    config, custom = validate_config(c.platform, c.config)
    if custom and not c.actor_is_admin:
        raise Forbidden("Only a system administrator may allow custom commands on a compute environment")
    return [ComputeEnvCreated(compute_env_id=c.compute_env_id, workspace_id=c.workspace_id, name=c.name,
                              platform=c.platform, config=config, description=c.description,
                              credentials_id=c.credentials_id, allow_custom_commands=custom, at=c.now,
                              actor=c.actor)]


@dataclass(frozen=True)
class CreateDataLink:
    data_link_id: str
    workspace_id: int
    name: str
    resource_ref: str
    actor_is_admin: bool
    now: datetime
    actor: str
    description: str | None = None
    provider: str | None = None
    public_accessible: bool = False
    credentials_id: str | None = None


def provider_of(resource_ref: str) -> str:
    """The provider a resource reference names, or InvalidInput for what we cannot serve."""
    parts = urlsplit(resource_ref)
    provider = PROVIDERS.get(parts.scheme)
    if provider is None:
        raise InvalidInput(f"Unsupported resourceRef '{resource_ref}': use file://, s3://, gs:// or az://")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InvalidInput("A file:// resourceRef needs an absolute path, e.g. file:///data/shared")
    elif not parts.netloc:
        raise InvalidInput(f"resourceRef '{resource_ref}' names no bucket")
    return provider


def _data_link(state: Resource, c: CreateDataLink) -> list[Event]:
    if state.exists:
        if (state.workspace_id, state.name) == (c.workspace_id, c.name):
            return []
        raise Conflict(f"Data link {c.data_link_id} already exists")
    check_resource_name(c.name, "data link")
    check_text(c.description, "description", 1000)
    check_text(c.resource_ref, "resourceRef", 2000)
    provider = provider_of(c.resource_ref)
    if c.provider is not None and c.provider != provider and not (provider == "aws" and c.provider == "s3"):
        raise InvalidInput(f"provider '{c.provider}' does not match resourceRef '{c.resource_ref}'")
    if provider == "local" and not c.actor_is_admin:
        raise Forbidden("Only a system administrator may link a folder of the gateway's host (file://)")
    return [DataLinkCreated(data_link_id=c.data_link_id, workspace_id=c.workspace_id, name=c.name,
                            resource_ref=c.resource_ref, provider=provider, description=c.description,
                            public_accessible=c.public_accessible, credentials_id=c.credentials_id, at=c.now,
                            actor=c.actor)]


@dataclass(frozen=True)
class CreateLabel:
    label_id: int
    workspace_id: int
    name: str
    now: datetime
    actor: str
    value: str | None = None
    resource: bool = False
    is_default: bool = False


def _label(state: Resource, c: CreateLabel) -> list[Event]:
    if state.exists:
        if (state.workspace_id, state.name) == (c.workspace_id, c.name):
            return []
        raise Conflict(f"Label {c.label_id} already exists")
    if not LABEL_NAME.match(c.name):
        raise InvalidInput(f"Invalid label name '{c.name}': 1-39 letters, digits, '_' or '-'")
    if c.resource and not c.value:
        raise InvalidInput("A resource label needs a value")
    if not c.resource and c.value is not None:
        raise InvalidInput("Only resource labels have a value")
    if c.value is not None and not LABEL_NAME.match(c.value):
        raise InvalidInput(f"Invalid label value '{c.value}': 1-39 letters, digits, '_' or '-'")
    return [LabelCreated(label_id=c.label_id, workspace_id=c.workspace_id, name=c.name, value=c.value,
                         resource=c.resource, is_default=c.is_default, at=c.now, actor=c.actor)]


ResourceCommand = CreateComputeEnv | DeleteComputeEnv | CreateDataLink | CreateLabel
INITIAL = Resource()


def decide(state: Resource, c: ResourceCommand) -> list[Event]:
    """One decide for the three: each command names its kind, and each kind has its own stream."""
    if isinstance(c, CreateComputeEnv | DeleteComputeEnv):
        return _compute_env(state, c)
    if isinstance(c, CreateDataLink):
        return _data_link(state, c)
    return _label(state, c)


def evolve(state: Resource, e: Event) -> Resource:
    if isinstance(e, ComputeEnvCreated | DataLinkCreated | LabelCreated):
        return Resource(True, e.workspace_id, e.name, False)
    if isinstance(e, ComputeEnvDeleted):
        return replace(state, deleted=True)
    return state
