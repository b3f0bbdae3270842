"""The builder's image built by a Kaniko Job on a real cluster: the one ``KUBECONFIG`` names (skipped otherwise,
saying why), pushing to ``STUDIOS_TEST_KUBE_REGISTRY``, a registry the cluster's nodes reach (kind's or k3d's local
registry: deploy/README.md), anonymously. The base is ``STUDIOS_TEST_KUBE_IMAGE`` and the package list is empty, so
a build needs no package index. Without a cluster: a kubernetes studio with an environment asks the real builder
for an image."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from libs.contracts import identity
from libs.contracts.build import BuildSpec, image_reference
from libs.contracts.identity import ComputeEnvCreated
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate
from libs.eventstore import Expected, to_new_events
from libs.kube import connect
from services.builder.environments.base import BuildError
from services.builder.images import kaniko as kube_build
from services.builder.images.kube import KubeImages
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.builds import BuildClient
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.runner import RunnerConfig, SessionRunner
from tests.integration.builder_harness import builder_settings, running_builder
from tests.integration.kube_cluster import Cluster, kube_cluster  # noqa: F401 - the fixture
from tests.integration.lifecycle_harness import create


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str, stream: str = "stdout") -> None:
        self.lines.append(text)


@pytest.fixture
async def images(request: pytest.FixtureRequest) -> AsyncIterator[tuple[KubeImages, Cluster]]:
    cluster: Cluster = request.getfixturevalue("kube_cluster")
    registry = os.environ.get("STUDIOS_TEST_KUBE_REGISTRY")
    if not registry:
        pytest.skip("no registry for Kaniko to push to: set STUDIOS_TEST_KUBE_REGISTRY (deploy/README.md)")
    built = KubeImages(cluster.namespace, registry, kubeconfig=cluster.kubeconfig, push_secret=None,
                       repository=f"studios-test-{uuid.uuid4().hex[:8]}")
    yield built, cluster
    await built.close()


async def _left_behind(cluster: Cluster, build_id: str) -> list[str]:
    """The build's Job and ConfigMap still there (not being deleted)."""
    api = await connect(cluster.kubeconfig, None)
    try:
        selector = kube_build.build_selector(build_id)
        jobs = await client.BatchV1Api(api).list_namespaced_job(cluster.namespace, label_selector=selector)
        maps = await client.CoreV1Api(api).list_namespaced_config_map(cluster.namespace, label_selector=selector)
        return [o.metadata.name for o in [*jobs.items, *maps.items] if o.metadata.deletion_timestamp is None]
    finally:
        await api.close()


async def test_a_kaniko_job_pushes_the_image_and_leaves_nothing_behind(
        images: tuple[KubeImages, Cluster]) -> None:
    built, cluster = images
    build_id = uuid.uuid4().hex[:32]
    out = Lines()
    artifact = await built.build(build_id, BuildSpec(python="3.12", target="image", base_image=cluster.image), out)
    assert image_reference(artifact) == built.destination(build_id)
    assert len(artifact.sha256) == 64  # the digest Kaniko pushed, from its termination message
    assert any("COPY requirements.txt" in line for line in out.lines)  # Kaniko's own log, streamed
    assert await built.exists(artifact)
    assert await _left_behind(cluster, build_id) == []


async def test_a_failed_job_is_a_failed_build_with_the_pods_reason(images: tuple[KubeImages, Cluster]) -> None:
    built, cluster = images
    build_id = uuid.uuid4().hex[:32]
    spec = BuildSpec(python="3.12", target="image", base_image="studios.invalid/no-such-image:1")
    with pytest.raises(BuildError, match="kaniko ended: Error"):
        await built.build(build_id, spec, Lines())
    assert await _left_behind(cluster, build_id) == []


async def test_a_kubernetes_studio_with_an_environment_asks_the_builder_for_an_image(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    """Without a cluster: the real builder, given no image builder, refuses target=image naming the Kaniko
    settings, and the studio is buildFailed with that; so lifecycle asked for an image on the template's."""
    settings = builder_settings(database_url, nats_url, tmp_path / "data", "")
    async with running_builder(settings) as b:
        handlers = StudioHandlers(b.store)
        kube = FakeBackend()
        routing = RoutingBackend({"local": FakeBackend(), "kubernetes": kube}, tmp_path / "state" / "logs")
        provisioner = Provisioner(b.store, tmp_path / "ws", b"k" * 32, backends=frozenset({"local", "kubernetes"}))
        runner = SessionRunner(handlers, routing, provisioner, RunnerConfig(),
                               BuildClient(b.store, b.client, poll_seconds=0.2))
        env_id = uuid.uuid4().hex[:10]
        await b.store.append(identity.stream(identity.COMPUTE_ENV, env_id), to_new_events([ComputeEnvCreated(
            compute_env_id=env_id, workspace_id=1, name=env_id, platform="k8s-platform", config={},
            at=datetime.now(UTC), actor="1")]), Expected.NO_STREAM)
        cmd = create("with-env", template=StudioTemplate(repository="registry/tool:1", tool="http-echo"),
                     configuration=StudioConfiguration(conda_environment="name: e\ndependencies: []\n"))
        await handlers.handle(cmd.model_copy(update={"compute_env_id": env_id}))
        runner.start(cmd.session_id, 1)
        await runner.drain()
        state = await handlers.state(cmd.session_id)
    assert state.status is StudioStatus.BUILD_FAILED, state.status_message
    assert "STUDIOS_BUILDER_KUBE_NAMESPACE" in (state.status_message or "")
    assert kube.launched == []
