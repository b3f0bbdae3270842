"""Which image builder the builder service makes from its settings: Kaniko Jobs, a Docker engine, or none."""

from __future__ import annotations

import pytest

from services.builder.images.engine import DockerImages
from services.builder.images.kube import KubeImages
from services.builder.main import _images
from services.builder.settings import BuilderSettings


def test_a_namespace_and_a_registry_make_kaniko_builds_pushed_under_the_registry() -> None:
    settings = BuilderSettings(STUDIOS_BUILDER_KUBE_NAMESPACE="studios", STUDIOS_BUILDER_REGISTRY="reg.example:5000/t/",
                               STUDIOS_BUILDER_DOCKER_HOST="unix:///nowhere.sock")
    images = _images(settings)
    assert isinstance(images, KubeImages)  # the cluster wins over an engine also named
    assert images.destination("abc") == "reg.example:5000/t/studios-env:abc"
    assert images.push_secret == "studios-registry"


def test_an_empty_registry_secret_is_an_anonymous_push() -> None:
    images = _images(BuilderSettings(STUDIOS_BUILDER_KUBE_NAMESPACE="s", STUDIOS_BUILDER_REGISTRY="r",
                                     STUDIOS_BUILDER_REGISTRY_SECRET=""))
    assert isinstance(images, KubeImages) and images.push_secret is None


def test_a_namespace_without_a_registry_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="STUDIOS_BUILDER_REGISTRY"):
        _images(BuilderSettings(STUDIOS_BUILDER_KUBE_NAMESPACE="studios"))


def test_without_a_namespace_an_engine_or_nothing() -> None:
    assert isinstance(_images(BuilderSettings(STUDIOS_BUILDER_DOCKER_HOST="unix:///x.sock")), DockerImages)
    assert _images(BuilderSettings()) is None
