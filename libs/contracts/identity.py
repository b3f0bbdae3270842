"""Identity and resource events of the gateway: users, tokens, organizations, workspaces (with their participants),
compute environments, data links, labels, and the name reservations that keep names unique across streams.

Ids follow Seqera: numeric for users, tokens, orgs, members, workspaces, participants and labels; alphanumeric
strings for compute environments and data links. ``actor`` is the acting user's id as a string ("system" at
bootstrap). Token events carry only the SHA-256 hash of a token, never the token.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime

from libs.contracts.events import Event, registry
from libs.contracts.reservations import NameReleased, NameReserved  # noqa: F401 - part of this language

USER, TOKEN, ORG, WORKSPACE = "user", "token", "org", "workspace"
COMPUTE_ENV, DATA_LINK, LABEL = "computeenv", "datalink", "label"
#: Reservation categories: one stream per unique name, appended with ``no_stream`` (DESIGN §2).
RESERVATIONS = ("username", "useremail", "orgname", "workspacename", "computeenvname", "datalinkname",
                "labelname")
CATEGORIES = (USER, TOKEN, ORG, WORKSPACE, COMPUTE_ENV, DATA_LINK, LABEL, *RESERVATIONS)


def stream(category: str, ident: int | str) -> str:
    return f"{category}-{ident}"


@registry.register
class UserCreated(Event):
    event_type = "UserCreated"
    user_id: int
    user_name: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    is_admin: bool = False
    at: AwareDatetime
    actor: str


@registry.register
class TokenIssued(Event):
    event_type = "TokenIssued"
    token_id: int
    user_id: int
    name: str
    token_hash: str  # sha256 hex of the token; the token itself is shown once and never stored
    expiry: AwareDatetime | None = None
    scopes: tuple[str, ...] = ()  # empty: every permission of the user
    at: AwareDatetime
    actor: str


@registry.register
class TokenRotated(Event):
    """The bootstrap admin token changed in the settings: the same token id now answers to a new hash."""

    event_type = "TokenRotated"
    token_id: int
    token_hash: str
    at: AwareDatetime
    actor: str


@registry.register
class TokenRevoked(Event):
    event_type = "TokenRevoked"
    token_id: int
    user_id: int
    at: AwareDatetime
    actor: str


@registry.register
class OrganizationCreated(Event):
    event_type = "OrganizationCreated"
    org_id: int
    name: str
    full_name: str
    description: str | None = None
    location: str | None = None
    website: str | None = None
    at: AwareDatetime
    actor: str


@registry.register
class OrgMemberAdded(Event):
    event_type = "OrgMemberAdded"
    category: ClassVar[str] = ORG
    org_id: int
    member_id: int
    user_id: int
    role: str  # owner | member | collaborator
    at: AwareDatetime
    actor: str


@registry.register
class WorkspaceCreated(Event):
    event_type = "WorkspaceCreated"
    workspace_id: int
    org_id: int
    name: str
    full_name: str
    description: str | None = None
    visibility: str = "PRIVATE"
    at: AwareDatetime
    actor: str


@registry.register
class ParticipantAdded(Event):
    event_type = "ParticipantAdded"
    category: ClassVar[str] = WORKSPACE  # appended to the workspace's stream
    workspace_id: int
    participant_id: int
    user_id: int
    role: str
    at: AwareDatetime
    actor: str


@registry.register
class ParticipantRoleChanged(Event):
    event_type = "ParticipantRoleChanged"
    category: ClassVar[str] = WORKSPACE  # appended to the workspace's stream
    workspace_id: int
    participant_id: int
    user_id: int
    role: str
    at: AwareDatetime
    actor: str


@registry.register
class ParticipantRemoved(Event):
    event_type = "ParticipantRemoved"
    category: ClassVar[str] = WORKSPACE  # appended to the workspace's stream
    workspace_id: int
    participant_id: int
    user_id: int
    at: AwareDatetime
    actor: str


@registry.register
class ComputeEnvCreated(Event):
    event_type = "ComputeEnvCreated"
    compute_env_id: str
    workspace_id: int
    name: str
    platform: str  # local-platform | docker-platform | k8s-platform
    config: dict[str, Any]  # Seqera's ComputeConfig shape (camelCase keys), without the discriminator
    description: str | None = None
    credentials_id: str | None = None
    allow_custom_commands: bool = False  # our extension, local-platform only, set by a system admin
    at: AwareDatetime
    actor: str


@registry.register
class ComputeEnvDeleted(Event):
    event_type = "ComputeEnvDeleted"
    compute_env_id: str
    workspace_id: int
    at: AwareDatetime
    actor: str


@registry.register
class ComputeEnvWarmPoolSet(Event):
    """How many JupyterLab processes lifecycle keeps started ahead of time for one class (docs/pools.md).
    ``size`` 0 empties the pool. Facts only: no secret (each pooled process's secret lives in lifecycle)."""

    event_type = "ComputeEnvWarmPoolSet"
    compute_env_id: str
    workspace_id: int
    template: str  # the template's repository (Seqera's ``dataStudioToolUrl``)
    cpu: int
    memory: int  # MiB
    size: int
    at: AwareDatetime
    actor: str


@registry.register
class DataLinkCreated(Event):
    event_type = "DataLinkCreated"
    data_link_id: str
    workspace_id: int
    name: str
    resource_ref: str  # file:///abs/path | s3://bucket/prefix | gs://... | az://...
    provider: str
    description: str | None = None
    type: str = "bucket"
    public_accessible: bool = False
    credentials_id: str | None = None
    at: AwareDatetime
    actor: str


@registry.register
class LabelCreated(Event):
    event_type = "LabelCreated"
    label_id: int
    workspace_id: int
    name: str
    value: str | None = None
    resource: bool = False
    is_default: bool = False
    at: AwareDatetime
    actor: str
