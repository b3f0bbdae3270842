"""The pure parts of the builder's Docker artifact: the Dockerfile from a spec, the tag, the context, the key."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from libs.contracts.build import Artifact, BuildSpec, image_reference
from libs.contracts.errors import InvalidInput
from services.builder import spec
from services.builder.environments.routing import Environments
from services.builder.environments.uv import UvEnvironments
from services.builder.images import dockerfile

IMAGE_SPEC = BuildSpec(requirements=("numpy==1.26.*", "pandas"), python="3.11", target="image",
                       base_image="python:3.11-slim")


def test_the_dockerfile_is_the_base_image_plus_the_specs_packages() -> None:
    text = dockerfile.dockerfile(IMAGE_SPEC, "python:3.11-slim", "b1")
    assert text.splitlines()[1:] == [
        "FROM python:3.11-slim",
        'LABEL studios.build="b1"',
        "COPY requirements.txt /opt/studios/requirements.txt",
        "RUN python -m pip install --no-cache-dir --disable-pip-version-check -r /opt/studios/requirements.txt"]
    assert dockerfile.requirements_text(IMAGE_SPEC) == "numpy==1.26.*\npandas\n"


def test_an_empty_package_list_installs_nothing_and_an_index_is_named_only_when_set() -> None:
    empty = BuildSpec(python="3.11", target="image", base_image="base")
    assert "RUN" not in dockerfile.dockerfile(empty, "base", "b1")
    with_index = dockerfile.dockerfile(IMAGE_SPEC, "base", "b1", index_url="https://pypi.example/simple")
    assert "--index-url https://pypi.example/simple -r" in with_index


def test_the_tag_is_the_build_id_in_the_repository() -> None:
    assert dockerfile.image_tag("studios-env", "0123abcd") == "studios-env:0123abcd"


def test_the_context_holds_the_dockerfile_and_the_requirements_only() -> None:
    data = dockerfile.context("FROM x\n", "pandas\n")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert members == {"Dockerfile": b"FROM x\n", "requirements.txt": b"pandas\n"}


def test_the_engines_build_stream_becomes_lines_with_errors_on_stderr() -> None:
    assert dockerfile.output_lines({"stream": "Step 1/3 : FROM x\n\n"}) == [("Step 1/3 : FROM x", "stdout")]
    assert dockerfile.output_lines({"error": "no such image\nsecond"}) == [("no such image", "stderr"),
                                                                           ("second", "stderr")]
    assert dockerfile.output_lines({"aux": {"ID": "sha256:1"}}) == []


def test_an_image_spec_names_its_base_with_the_python_version_filled_in() -> None:
    parsed = spec.parse(None, ["pandas"], default_python="3.12", target="image", base_image="python:{python}-slim")
    assert (parsed.target, parsed.base_image) == ("image", "python:3.12-slim")
    with pytest.raises(InvalidInput, match="base image"):
        spec.parse(None, ["pandas"], default_python="3.12", target="image")


def test_an_image_and_a_venv_of_one_spec_have_different_keys_and_a_venvs_key_is_unchanged() -> None:
    venv = spec.parse(None, ["pandas"], default_python="3.11")
    image = spec.parse(None, ["pandas"], default_python="3.11", target="image", base_image="python:3.11-slim")
    other_base = spec.parse(None, ["pandas"], default_python="3.11", target="image", base_image="debian:12")
    keys = {spec.key(s, platform="p", builder_version="v") for s in (venv, image, other_base)}
    assert len(keys) == 3
    # the body a venv's key hashed before images existed: its cached environments still serve
    assert spec.key(venv, platform="p", builder_version="v") == spec.key(
        BuildSpec(requirements=("pandas",), python="3.11"), platform="p", builder_version="v")


def test_an_image_artifact_names_its_reference_and_a_venv_none() -> None:
    assert image_reference(Artifact(uri="docker-image:studios-env:ab", sha256="s", size=1)) == "studios-env:ab"
    assert image_reference(Artifact(uri="file:///data/envs/ab", sha256="s", size=1)) is None


def test_a_builder_without_an_engine_refuses_image_specs_before_recording_anything(tmp_path: Path) -> None:
    envs = Environments(UvEnvironments(tmp_path / "envs", tmp_path / "cache"))
    envs.check(BuildSpec(python="3.11"))  # a venv needs no engine
    with pytest.raises(InvalidInput, match="STUDIOS_BUILDER_DOCKER_HOST"):
        envs.check(IMAGE_SPEC)
