"""Civis request bodies. The real client sends snake_case (``docker_image_name``); Civis's document names them in
camelCase: both are accepted. Unknown fields are refused (a typo must not be silently dropped)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

ParamType = Literal["string", "multi_line_string", "integer", "float", "bool", "file", "table", "database",
                    "credential_aws", "credential_redshift", "credential_custom"]
CREDENTIAL_TYPES = frozenset({"credential_aws", "credential_redshift", "credential_custom"})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class RequiredResources(_Body):
    cpu: int | None = Field(None, ge=0)  # millicores
    memory: int | None = Field(None, ge=0)  # MiB
    disk_space: float | None = Field(None, ge=0)  # GB


class Param(_Body):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: ParamType
    description: str | None = None
    value: Any = None

    @model_validator(mode="after")
    def _credential_is_an_id(self) -> Param:
        # a credential param names a stored credential by id: a secret itself would end up in an event, kept forever
        if self.type in CREDENTIAL_TYPES and self.value is not None and (
                isinstance(self.value, bool) or not isinstance(self.value, int)):
            raise ValueError(f"param {self.name}: a {self.type} value is a credential id (an integer)")
        return self


class StudioBody(_Body):
    """``POST /studios`` (fields left out take their defaults) and ``PUT``/``PATCH /studios/{id}``."""

    name: str | None = None
    docker_image_name: str | None = None
    docker_image_tag: str | None = None
    instance_type: str | None = None
    required_resources: RequiredResources | None = None
    git_credential_id: int | None = None
    params: list[Param] | None = None
    git_repo_url: str | None = None
    git_ref: str | None = None
    partition_label: str | None = None


class DeploymentBody(_Body):
    deployment_id: int | None = None


class ArchiveBody(_Body):
    status: bool
