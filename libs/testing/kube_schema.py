"""Checks against the official Kubernetes OpenAPI schemas that ``kubernetes-validate`` ships (a dev dependency).

``valid`` checks a whole object by its kind; ``valid_as`` checks a part that is not a kind of its own (a
``LabelSelector``, the ``DeleteOptions`` of a delete) against its named definition. Strict: an unknown or misspelt
field fails, as the API server's strict field validation does.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils
from referencing import Registry, Resource

K8S_VERSION = "1.31"
_DIR = f"kubernetes-json-schema/v{K8S_VERSION}.0-local-strict"


def valid(obj: dict[str, Any]) -> dict[str, Any]:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return obj


def valid_as(obj: dict[str, Any], definition: str) -> dict[str, Any]:
    """``definition``: a schema file's name, e.g. ``labelselector-meta-v1`` or ``deleteoptions-meta-v1``."""
    schema = utils.schema_contents(f"{_DIR}/{definition}.json", K8S_VERSION)
    definitions = utils.schema_contents(f"{_DIR}/_definitions.json", K8S_VERSION)
    registry: Registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    jsonschema.validators.Draft202012Validator(schema, registry=registry).validate(obj)
    return obj


def documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text (empty documents left out)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


ValidationError = (kubernetes_validate.ValidationError, jsonschema.ValidationError)
