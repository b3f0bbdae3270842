"""From environment.yml and pip requirements to a normalised spec and its key."""

from __future__ import annotations

import pytest

from libs.contracts.errors import InvalidInput
from services.builder import spec

ENV = """name: x
channels: [conda-forge, bioconda]
dependencies:
  - python=3.12
  - numpy=1.26
  - conda-forge::scipy>=1.10
  - pandas
  - pip
  - pip:
    - Tiny_Pkg==1.0
"""


def test_environment_yml_becomes_pip_requirements_with_condas_meaning_of_a_single_equals() -> None:
    s = spec.parse(ENV, default_python="3.11")
    assert s.python == "3.12"
    assert s.requirements == ("numpy==1.26.*", "pandas", "scipy>=1.10", "tiny-pkg==1.0")
    assert s.channels == ("conda-forge", "bioconda")


def test_the_same_packages_written_differently_have_one_key() -> None:
    a = spec.parse("dependencies:\n  - pip:\n    - TinyPkg == 1.0\n    - otherpkg\n", default_python="3.11")
    b = spec.parse(None, ["otherpkg", "tinypkg==1.0", "otherpkg"], default_python="3.11")
    assert a == b
    key = spec.key(a, platform="linux-x86_64-cpython", builder_version="1")
    assert key == spec.key(b, platform="linux-x86_64-cpython", builder_version="1")


def test_python_platform_and_builder_version_change_the_key() -> None:
    s = spec.parse(None, ["tinypkg"], default_python="3.11")
    base = spec.key(s, platform="p", builder_version="1")
    assert base != spec.key(s.model_copy(update={"python": "3.12"}), platform="p", builder_version="1")
    assert base != spec.key(s, platform="q", builder_version="1")
    assert base != spec.key(s, platform="p", builder_version="2")
    assert base != spec.key(s, platform="p", builder_version="1", base_image_digest="sha256:ab")
    assert spec.build_id(base) == base[:32]


@pytest.mark.parametrize("text, match", [
    ("dependencies: [unclosed", "not valid YAML"),
    ("- just\n- a list\n", "mapping"),
    ("dependencies:\n  - {conda: x}\n", "cannot read dependency"),
    ("dependencies:\n  - pip:\n    - 'not a requirement!!'\n", "not a requirement"),
    ("dependencies:\n  - python=three\n", "major.minor"),
])
def test_what_cannot_be_read_is_invalid_input_naming_the_field(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as e:
        spec.parse(text, default_python="3.11")
    assert e.value.extra["field"] == "condaEnvironment"


def test_installer_options_are_refused() -> None:
    with pytest.raises(InvalidInput, match="installer options"):
        spec.parse(None, ["--extra-index-url=http://x/"], default_python="3.11")
