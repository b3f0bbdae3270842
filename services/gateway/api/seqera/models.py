"""Request bodies of the Seqera identity/resource API (camelCase, as in Seqera's schemas). Unknown fields are
ignored, as Seqera clients send read-only ones back; wrong types are a 400."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class CreateUserRequest(Body):
    user_name: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    admin: bool = False  # our extension: a system administrator


class CreateTokenRequest(Body):
    name: str
    expiry: AwareDatetime | None = None  # our extension; Seqera tokens do not expire
    scopes: list[str] = Field(default_factory=list)  # our extension; empty: every permission of the user


class OrganizationIn(Body):
    name: str
    full_name: str = ""
    description: str | None = None
    location: str | None = None
    website: str | None = None


class CreateOrganizationRequest(Body):
    organization: OrganizationIn


class AddMemberRequest(Body):
    user: str  # user name or email


class WorkspaceIn(Body):
    name: str
    full_name: str = ""
    description: str | None = None
    visibility: str = "PRIVATE"


class CreateWorkspaceRequest(Body):
    workspace: WorkspaceIn


class AddParticipantRequest(Body):
    member_id: int | None = None
    team_id: int | None = None
    user_name_or_email: str | None = None
    role: str = "launch"  # our extension; Seqera adds with its default role


class UpdateParticipantRoleRequest(Body):
    role: str


class ComputeEnvIn(Body):
    name: str
    platform: str
    config: dict[str, Any]
    description: str | None = None
    credentials_id: str | None = None


class CreateComputeEnvRequest(Body):
    compute_env: ComputeEnvIn
    label_ids: list[int] = Field(default_factory=list)


class DataLinkCreateRequest(Body):
    name: str
    resource_ref: str
    description: str | None = None
    type: str = "bucket"
    provider: str | None = None
    public_accessible: bool = False
    credentials_id: str | None = None


class CreateLabelRequest(Body):
    name: str
    value: str | None = None
    resource: bool = False
    is_default: bool = False
