"""Build events (stream ``build-<buildId>``): one build of a template environment, identified by its key.

A build's id is its key: the hash of everything that decides the result (the normalised spec, Python version,
platform, base-image digest, the builder's version). So the same inputs always name the same stream, a second
request finds the first one's artifact at once, and identical requests made together join one build. A stream
holds every attempt (a failed or cancelled build asked for again, or one interrupted by a builder restart);
``attempt`` tells a late report about an earlier attempt from news. The artifact itself (a virtual environment
on disk) is never in an event: events carry ``{uri, sha256, size}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from libs.contracts.events import Event, registry

CATEGORY = "build"


def stream_name(build_id: str) -> str:
    return f"{CATEGORY}-{build_id}"


class BuildStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BuildSpec(_Value):
    """What is installed, normalised (sorted, deduplicated, lower-case names) so equal specs hash equally."""

    requirements: tuple[str, ...] = ()
    python: str  # "3.11": major.minor
    #: conda channels named by the environment.yml; recorded, not used (packages come from the package index)
    channels: tuple[str, ...] = ()
    #: what is built: a virtual environment (``venv``, for local sessions) or a container image (``image``, for
    #: docker sessions: ``base_image`` plus the requirements)
    target: str = "venv"
    base_image: str | None = None


class Artifact(_Value):
    """Where the built environment is (``file://`` for a local virtual environment), its digest and size."""

    uri: str
    sha256: str  # of the resolved package set (``uv pip freeze``), so two builds of one key compare
    size: int  # bytes on disk


#: an image artifact's uri: ``docker-image:<reference>``, the image on the builder's engine, found by its tag
IMAGE_URI = "docker-image:"


def image_reference(artifact: Artifact) -> str | None:
    """The image an artifact names (``repository:tag``), or None for a virtual environment."""
    return artifact.uri.removeprefix(IMAGE_URI) if artifact.uri.startswith(IMAGE_URI) else None


class BuildEvent(Event):
    build_id: str
    at: AwareDatetime
    actor: str
    reason: str | None = None


@registry.register
class BuildRequested(BuildEvent):
    """Attempt ``attempt`` is queued. ``key`` inputs are repeated so the key can be checked and explained."""

    event_type: ClassVar[str] = "BuildRequested"
    attempt: int
    key: str
    spec: BuildSpec
    platform: str
    builder_version: str
    base_image_digest: str | None = None
    template_id: str | None = None
    #: the stream the first request came for (``studio-<id>``, ``template-<id>``), for the audit trail
    requested_for: str | None = None


@registry.register
class BuildStarted(BuildEvent):
    event_type: ClassVar[str] = "BuildStarted"
    attempt: int


@registry.register
class BuildSucceeded(BuildEvent):
    event_type: ClassVar[str] = "BuildSucceeded"
    attempt: int
    artifact: Artifact
    duration_seconds: float


@registry.register
class BuildFailed(BuildEvent):
    """``message``: the installer's own error (its last lines), so a user sees why without reading the log."""

    event_type: ClassVar[str] = "BuildFailed"
    attempt: int
    message: str


@registry.register
class BuildCancelled(BuildEvent):
    event_type: ClassVar[str] = "BuildCancelled"
    attempt: int


BUILD_EVENTS: tuple[type[BuildEvent], ...] = (BuildRequested, BuildStarted, BuildSucceeded, BuildFailed,
                                              BuildCancelled)
