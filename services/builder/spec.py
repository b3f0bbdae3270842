"""From what a user wrote (an environment.yml, pip requirements) to a normalised ``BuildSpec`` and its key. Pure.

The environment.yml's ``pip:`` section is taken as it is; its conda packages are looked for on the package index
under the same name (``numpy=1.26`` becomes ``numpy==1.26.*``, conda's meaning of a single ``=``). A conda-only
package then fails the build with the installer's "not found", a clear error rather than a guess. ``python=X.Y``
picks the interpreter; channels are recorded but not used. The key hashes everything that decides the result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from libs.contracts.build import BuildSpec
from libs.contracts.errors import InvalidInput

FIELD = "condaEnvironment"
#: conda's ``name[=version[=build]]``, ``name==version``, ``name>=version`` and ``name version``, with an optional
#: ``channel::`` prefix
_CONDA = re.compile(r"^(?:[\w.-]+::)?(?P<name>[A-Za-z0-9][\w.-]*)\s*(?P<op>==|>=|<=|!=|=|>|<|\s)?\s*(?P<rest>.*)$")
_PYTHON = re.compile(r"^\d+\.\d+$")
_SKIP = {"pip"}  # pip itself is not a package of the environment


def parse(conda_environment: str | None, requirements: Iterable[str] = (), python: str | None = None,
          *, default_python: str, target: str = "venv", base_image: str | None = None) -> BuildSpec:
    """The normalised spec; ``InvalidInput`` (naming the field) for what cannot be read. ``target="image"``:
    a container image on ``base_image`` (where ``{python}`` stands for the chosen major.minor)."""
    wanted = list(requirements)
    channels: tuple[str, ...] = ()
    pinned: str | None = None
    if conda_environment and conda_environment.strip():
        conda, pip, channels = _environment(conda_environment)
        for dep in conda:
            req, version = _conda_requirement(dep)
            if req == "python":
                pinned = version
            elif req not in _SKIP:
                wanted.append(req)
        wanted.extend(pip)
    chosen = python or pinned or default_python
    if not _PYTHON.match(chosen):
        raise InvalidInput(f"python must be major.minor (like 3.11), not {chosen!r}", field=FIELD)
    if target == "image":
        if not base_image:
            raise InvalidInput("an image build needs a base image", field=FIELD)
        return BuildSpec(requirements=normalise(wanted), python=chosen, channels=channels, target="image",
                         base_image=base_image.replace("{python}", chosen))
    return BuildSpec(requirements=normalise(wanted), python=chosen, channels=channels)


def normalise(requirements: Iterable[str]) -> tuple[str, ...]:
    out: set[str] = set()
    for text in requirements:
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("-"):
            raise InvalidInput(f"installer options are not allowed in a spec: {text!r}", field=FIELD)
        try:
            req = Requirement(text)
        except InvalidRequirement as e:
            raise InvalidInput(f"not a requirement: {text!r} ({e})", field=FIELD) from None
        req.name = canonicalize_name(req.name)
        out.add(str(req))
    return tuple(sorted(out))


def key(spec: BuildSpec, *, platform: str, builder_version: str, base_image_digest: str | None = None) -> str:
    """The build's key (sha256 hex). Channels are left out: packages come from the configured index whatever
    the file names, so they do not change the result."""
    body: dict[str, object] = {"requirements": list(spec.requirements), "python": spec.python,
                               "platform": platform, "builder": builder_version, "base_image": base_image_digest}
    if spec.target != "venv":  # a venv's key is what it was before images existed: its cache still serves
        body.update(target=spec.target, base_image_name=spec.base_image)
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def build_id(build_key: str) -> str:
    """The build's id: the key's first 128 bits, short enough for a URL and still never shared by chance."""
    return build_key[:32]


def _environment(text: str) -> tuple[list[str], list[str], tuple[str, ...]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidInput(f"condaEnvironment is not valid YAML: {e}", field=FIELD) from None
    if doc is None:
        return [], [], ()
    if not isinstance(doc, dict):
        raise InvalidInput("condaEnvironment must be an environment.yml mapping (name, channels, dependencies)",
                           field=FIELD)
    deps = doc.get("dependencies") or []
    if not isinstance(deps, list):
        raise InvalidInput("condaEnvironment: dependencies must be a list", field=FIELD)
    conda: list[str] = []
    pip: list[str] = []
    for dep in deps:
        if isinstance(dep, dict) and set(dep) == {"pip"} and isinstance(dep["pip"], list):
            pip.extend(str(p) for p in dep["pip"])
        elif isinstance(dep, str | int | float):
            conda.append(str(dep))
        else:
            raise InvalidInput(f"condaEnvironment: cannot read dependency {dep!r}", field=FIELD)
    channels = doc.get("channels") or []
    return conda, pip, tuple(str(c) for c in channels) if isinstance(channels, list) else ()


def _conda_requirement(dep: str) -> tuple[str, str | None]:
    """A pip requirement for a conda dependency, and its version as written (for ``python``)."""
    m = _CONDA.match(dep.strip())
    if m is None:
        raise InvalidInput(f"condaEnvironment: cannot read dependency {dep!r}", field=FIELD)
    name, op, rest = m["name"], (m["op"] or "").strip(), m["rest"].strip()
    version = rest.split("=")[0].split()[0] if rest else None
    if name.lower() == "python":
        return "python", _major_minor(version)
    if not version:
        return name, None
    if op not in ("", "="):
        return f"{name}{op}{version}", version
    # conda's ``=1.26`` is any 1.26.x; a full version or a wildcard is taken as written
    exact = version.endswith("*") or version.count(".") >= 2
    return (f"{name}=={version}" if exact else f"{name}=={version}.*"), version


def _major_minor(version: str | None) -> str | None:
    if not version:
        return None
    parts = version.rstrip(".*").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else version
