"""``Environments``: the one ``EnvironmentBuilder`` the runner uses, choosing by what a spec asks for.

``venv`` specs go to ``UvEnvironments`` (virtual environments, for local sessions); ``image`` specs to
``DockerImages`` (container images, for docker sessions), which exists only when the builder has a Docker engine
(``STUDIOS_BUILDER_DOCKER_HOST``), or to ``KubeImages`` (Kaniko Jobs, ``STUDIOS_BUILDER_KUBE_NAMESPACE``). An
artifact is told apart by its uri (``file://`` or ``docker-image:``).
"""

from __future__ import annotations

from typing import Protocol

from libs.contracts.build import Artifact, BuildSpec, image_reference
from libs.contracts.errors import InvalidInput
from services.builder.environments.base import BuildError, EnvironmentBuilder, OutputSink
from services.builder.environments.uv import UvEnvironments
from services.builder.images.dockerfile import DEFAULT_BASE

NO_ENGINE = ("this builder has no Docker engine to build images with: set STUDIOS_BUILDER_DOCKER_HOST"
             " (or STUDIOS_BUILDER_KUBE_NAMESPACE and STUDIOS_BUILDER_REGISTRY for Kaniko Jobs)")


class ImageBuilder(EnvironmentBuilder, Protocol):
    """``DockerImages`` (an engine) or ``KubeImages`` (Kaniko Jobs in a cluster)."""

    async def close(self) -> None: ...


class Environments:
    kind = "any"

    def __init__(self, venvs: UvEnvironments, images: ImageBuilder | None = None, *,
                 base_image: str = DEFAULT_BASE) -> None:
        self.venvs, self.images, self.base_image = venvs, images, base_image

    async def build(self, build_id: str, spec: BuildSpec, out: OutputSink) -> Artifact:
        if spec.target != "image":
            return await self.venvs.build(build_id, spec, out)
        if self.images is None:
            raise BuildError(NO_ENGINE)
        return await self.images.build(build_id, spec, out)

    async def exists(self, artifact: Artifact) -> bool:
        if image_reference(artifact) is None:
            return await self.venvs.exists(artifact)
        return self.images is not None and await self.images.exists(artifact)

    def check(self, spec: BuildSpec) -> None:
        """Refuses an image spec where there is no engine, before anything is recorded."""
        if spec.target == "image" and self.images is None:
            raise InvalidInput(NO_ENGINE, field="target")

    async def close(self) -> None:
        if self.images is not None:
            await self.images.close()
