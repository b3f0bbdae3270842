"""Settings of the builder service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from libs.platform.settings import PlatformSettings
from services.builder.images.dockerfile import DEFAULT_BASE
from services.builder.images.kaniko import KANIKO_IMAGE


class BuilderSettings(PlatformSettings):
    #: builds that run at once; the rest wait their turn (queued)
    max_concurrent_builds: int = Field(2, alias="STUDIOS_BUILDER_MAX_CONCURRENT", ge=1)
    #: comma-separated directories (or URLs) of wheels to install from, beside or instead of the index
    find_links: str = Field("", alias="STUDIOS_BUILDER_FIND_LINKS")
    #: the package index (uv's default, PyPI, when unset)
    index_url: str | None = Field(None, alias="STUDIOS_BUILDER_INDEX_URL")
    #: install only from ``find_links`` (air-gapped installs, the tests)
    no_index: bool = Field(False, alias="STUDIOS_BUILDER_NO_INDEX")
    #: attempts a build gets when the builder stops under it (SIGKILL, a crash) before it is failed for good
    max_attempts: int = Field(3, alias="STUDIOS_BUILDER_MAX_ATTEMPTS", ge=1)
    build_timeout_seconds: float = Field(1800.0, alias="STUDIOS_BUILDER_TIMEOUT_SECONDS", gt=0)
    #: on SIGTERM, how long builds under way may take to finish; the rest are retried by the next builder
    drain_seconds: float = Field(5.0, alias="STUDIOS_BUILDER_DRAIN_SECONDS", ge=0)
    #: publish build output to JetStream LOGS (kind ``build``) beside the build's own log file
    publish_logs: bool = Field(True, alias="STUDIOS_BUILDER_PUBLISH_LOGS")

    #: a Docker-API engine (unix:///var/run/docker.sock, tcp://host:2375): image builds for docker sessions
    docker_host: str | None = Field(None, alias="STUDIOS_BUILDER_DOCKER_HOST")
    #: the image an image build starts from; ``{python}`` is the spec's major.minor
    base_image: str = Field(DEFAULT_BASE, alias="STUDIOS_BUILDER_BASE_IMAGE")
    #: the repository built images are tagged in: ``<repository>:<build id>``
    image_repository: str = Field("studios-env", alias="STUDIOS_BUILDER_IMAGE_REPOSITORY")

    #: image builds as Kaniko Jobs in this namespace (docs/builder.md) instead of on a Docker engine
    kube_namespace: str | None = Field(None, alias="STUDIOS_BUILDER_KUBE_NAMESPACE")
    #: a kubeconfig file when the builder runs outside the cluster (else its service account)
    kubeconfig: str | None = Field(None, alias="STUDIOS_BUILDER_KUBECONFIG")
    kube_context: str | None = Field(None, alias="STUDIOS_BUILDER_KUBE_CONTEXT")
    #: where Kaniko pushes (``registry.example:5000/team``): images are ``<registry>/<repository>:<build id>``
    registry: str | None = Field(None, alias="STUDIOS_BUILDER_REGISTRY")
    #: the ``kubernetes.io/dockerconfigjson`` Secret Kaniko pushes with; empty: an anonymous push
    registry_secret: str = Field("studios-registry", alias="STUDIOS_BUILDER_REGISTRY_SECRET")
    kaniko_image: str = Field(KANIKO_IMAGE, alias="STUDIOS_BUILDER_KANIKO_IMAGE")

    @property
    def root(self) -> Path:
        return self.data_dir.resolve() / "builder"

    @property
    def find_links_list(self) -> list[str]:
        return [p.strip() for p in self.find_links.split(",") if p.strip()]
