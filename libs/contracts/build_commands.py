"""Commands to the builder (``studios.cmd.builder.<name>``): builds and the template registry.

``RequestBuild`` carries the spec as its sender has it (an environment.yml text and/or pip requirements); the
builder normalises it and derives the build's key, since the key includes what only the builder knows (its own
version, its platform). The other build commands are the builder's own (its runner's reports).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime

from libs.contracts.build import Artifact, BuildSpec
from libs.contracts.commands import Command
from libs.contracts.template import TemplateDefinition


class BuilderCommand(Command):
    service: ClassVar[str] = "builder"
    #: stamped by the builder's handler (the domain has no clock)
    now: AwareDatetime | None = None
    actor: str
    reason: str | None = None


class BuildCommand(BuilderCommand):
    build_id: str

    def event_fields(self) -> dict[str, Any]:
        assert self.now is not None, "the handler stamps now"
        return {"build_id": self.build_id, "at": self.now, "actor": self.actor, "reason": self.reason}


class RequestBuild(BuilderCommand):
    """Build (or find) the environment for this spec. ``python``: major.minor; None: the environment.yml's
    ``python=`` pin, else the builder's own version."""

    name: ClassVar[str] = "request_build"
    conda_environment: str | None = None
    requirements: tuple[str, ...] = ()
    python: str | None = None
    template_id: str | None = None
    requested_for: str | None = None
    #: ``venv`` (a virtual environment, for local sessions) or ``image`` (a container image, for docker sessions;
    #: the builder needs a Docker engine for it)
    target: Literal["venv", "image"] = "venv"
    #: the image an ``image`` build starts from (a docker studio's template image); None: the builder's default
    base_image: str | None = None


class CancelBuild(BuildCommand):
    name: ClassVar[str] = "cancel_build"


class GetBuildLog(BuilderCommand):
    """A page of the build's output, from line ``offset`` of ``attempt`` (None: the latest)."""

    name: ClassVar[str] = "get_build_log"
    build_id: str
    attempt: int | None = None
    offset: int = 0
    limit: int = 1000


# -- the builder's own, decided by the build aggregate --------------------------------------------------


class QueueBuild(BuildCommand):
    """A normalised request: a new attempt unless one is queued, running, or succeeded with its artifact there."""

    name: ClassVar[str] = "queue_build"
    key: str
    spec: BuildSpec
    platform: str
    builder_version: str
    base_image_digest: str | None = None
    template_id: str | None = None
    requested_for: str | None = None
    #: the succeeded build's artifact is gone from disk: build it again
    artifact_missing: bool = False


class StartBuild(BuildCommand):
    name: ClassVar[str] = "start_build"
    attempt: int


class CompleteBuild(BuildCommand):
    name: ClassVar[str] = "complete_build"
    attempt: int
    artifact: Artifact
    duration_seconds: float


class FailBuild(BuildCommand):
    name: ClassVar[str] = "fail_build"
    attempt: int
    message: str


class RecoverBuild(BuildCommand):
    """After a builder restart: the attempt that was running is gone; retry it, or fail after ``max_attempts``."""

    name: ClassVar[str] = "recover_build"
    max_attempts: int = 3


# -- templates ---------------------------------------------------------------------------------------------


class SaveTemplate(BuilderCommand):
    """Register a template, or add a version when the definition differs from the latest (else nothing)."""

    name: ClassVar[str] = "save_template"
    template_id: str
    definition: TemplateDefinition
    #: True: only register (a POST); a template of this id already there is a conflict unless identical
    create: bool = False
