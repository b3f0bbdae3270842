"""Template events (stream ``template-<templateId>``): the registry of what a studio can be started from.

Every version of a template is kept: a change appends a new version with the whole definition, so a studio
created from version 3 can always say what version 3 was. The built-in templates are seed data of this registry
(registered by the builder at start, idempotently).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from libs.contracts.events import Event, registry

CATEGORY = "template"
TOOLS = ("jupyter", "vscode", "rstudio", "xpra", "http-echo", "custom")


def stream_name(template_id: str) -> str:
    return f"{CATEGORY}-{template_id}"


class SupportStatus(StrEnum):
    """Seqera's ``DataStudioVersionStatus``."""

    RECOMMENDED = "recommended"
    DEPRECATED = "deprecated"
    EXPERIMENTAL = "experimental"
    UNSUPPORTED = "unsupported"


class TemplateDefinition(BaseModel):
    """One version of a template. ``port``: where the tool serves (``$CONNECT_TOOL_PORT`` when None)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str  # what ``dataStudioToolUrl`` names (a container image reference for docker backends)
    tool: str
    description: str | None = None
    icon: str | None = None
    status: SupportStatus = SupportStatus.RECOMMENDED
    conda_environment: str | None = None  # environment.yml syntax
    requirements: tuple[str, ...] = ()  # pip requirements
    command: tuple[str, ...] | None = None
    port: int | None = None
    base_path: bool | None = None  # the tool serves under the prefix it is given (see StudioTemplate.base_path)
    #: the compute-environment kinds it is built for (Dataiku's ``build_for_configs``): local, docker, kubernetes
    build_for: tuple[str, ...] = ("local",)


class TemplateEvent(Event):
    template_id: str
    at: AwareDatetime
    actor: str
    reason: str | None = None


@registry.register
class TemplateRegistered(TemplateEvent):
    event_type: ClassVar[str] = "TemplateRegistered"
    version: int
    definition: TemplateDefinition


@registry.register
class TemplateVersionAdded(TemplateEvent):
    event_type: ClassVar[str] = "TemplateVersionAdded"
    version: int
    definition: TemplateDefinition


TEMPLATE_EVENTS: tuple[type[TemplateEvent], ...] = (TemplateRegistered, TemplateVersionAdded)
