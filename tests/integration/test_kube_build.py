"""The builder's image built by a Kaniko Job on a real cluster: the one ``KUBECONFIG`` names (skipped otherwise,
saying why), pushing to ``STUDIOS_TEST_KUBE_REGISTRY``, a registry the cluster's nodes reach (kind's or k3d's local
registry: deploy/README.md), anonymously. The base is ``STUDIOS_TEST_KUBE_IMAGE`` and the package list is empty, so
a build needs no package index."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from libs.contracts.build import BuildSpec, image_reference
from services.builder.environments.base import BuildError
from services.builder.images.kube import KubeImages
from services.lifecycle.backends import kube_build
from services.lifecycle.backends.kube_api import connect
from tests.integration.kube_cluster import Cluster, kube_cluster  # noqa: F401 - the fixture


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
