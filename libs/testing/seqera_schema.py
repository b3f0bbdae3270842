"""Checks a Seqera-dialect response against Seqera's own OpenAPI schemas (``specs/``: the Studios subset of Seqera API
1.187.0 and the Platform API, copied from ``../shared/reference``).

Strict generated clients (the Seqera CLI, the Terraform provider) reject a ``null`` where the schema allows none, a
missing required field, or a value outside an enum; ``check`` finds exactly those. The specs are OpenAPI 3.0, whose
``nullable: true`` JSON Schema does not know: it is rewritten as a ``null`` alternative, and everything else is
validated as JSON Schema draft 7 (``additionalProperties`` stays open, as in the spec, so our extensions pass).

Use ``checked_client_hooks()`` as an ``httpx`` client's ``event_hooks``: every response to a path the specs define
is then checked, and paths they do not define (our SSE stream, our extensions) are left alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft7Validator

SPECS = Path(__file__).parent / "specs"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's loader reads the 160 kB Platform spec ~10x faster
FILES = ("seqera-studios-openapi.yaml", "seqera-platform-openapi.yaml")  # the first that has a path wins


class SchemaMismatch(AssertionError):
    pass


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema: ``type: [t, "null"]`` or ``anyOf: [schema, null]``."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_json_schema(v) for k, v in node.items()}
    _discriminate(out)
    if out.get("nullable") is not True:  # a *property* named "nullable" has a dict value and stays
        if isinstance(out.get("nullable"), bool):
            del out["nullable"]
        return out
    del out["nullable"]
    if "type" in out and not any(k in out for k in ("$ref", "allOf", "anyOf", "oneOf")):
        t = out["type"]
        out["type"] = [*(t if isinstance(t, list) else [t]), "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [out, {"type": "null"}]}


def _discriminate(schema: dict[str, Any]) -> None:
    """OpenAPI's ``discriminator`` picks one ``oneOf`` branch by a property's value; JSON Schema would demand that
    exactly one branch fit, which lax branches never satisfy. So: the mapped branch for a known value, none for an
    unknown one (``oneOf`` dropped)."""
    disc = schema.get("discriminator")
    if not isinstance(disc, dict) or "oneOf" not in schema or "propertyName" not in disc:
        return
    prop, mapping = disc["propertyName"], disc.get("mapping", {})
    del schema["oneOf"]
    schema["allOf"] = [*schema.get("allOf", []), *(
        {"if": {"properties": {prop: {"const": value}}, "required": [prop]}, "then": {"$ref": ref}}
        for value, ref in mapping.items())]


@dataclass(frozen=True)
class Operation:
    spec: str
    template: str
    responses: dict[str, Any]


class Specs:
    def __init__(self, files: tuple[str, ...] = FILES) -> None:
        self._routes: list[tuple[re.Pattern[str], str, str, dict[str, Any]]] = []
        self._components: dict[str, dict[str, Any]] = {}
        for name in files:
            doc = _nullable_to_json_schema(yaml.load((SPECS / name).read_text(), Loader=_Loader))
            self._components[name] = doc.get("components", {})
            for template, item in doc.get("paths", {}).items():
                pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
                self._routes.append((pattern, name, template, item))
        # literal segments before templated ones: /studios/templates is not /studios/{sessionId}
        self._routes.sort(key=lambda r: (FILES.index(r[1]) if r[1] in FILES else 99, r[2].count("{")))

    def operation(self, method: str, path: str) -> Operation | None:
        for pattern, spec, template, item in self._routes:
            if pattern.match(path) and method.lower() in item:
                return Operation(spec, template, item[method.lower()].get("responses", {}))
        return None

    def schema(self, op: Operation, status: int) -> dict[str, Any] | None:
        """The JSON schema of ``status``'s body; None when the spec declares that status with no body."""
        declared = op.responses.get(str(status))
        if declared is None:
            if 200 <= status < 300:
                raise SchemaMismatch(f"{op.template}: Seqera's spec declares no {status} response")
            # an error the spec does not list still has Seqera's one error shape
            return {"$ref": "#/components/schemas/ErrorResponse"} if "ErrorResponse" in self._schemas(op) else None
        content = declared.get("content", {}).get("application/json")
        return content.get("schema") if content else None

    def _schemas(self, op: Operation) -> dict[str, Any]:
        return dict(self._components[op.spec].get("schemas", {}))

    def check(self, method: str, path: str, status: int, body: Any) -> Operation | None:
        """Raise ``SchemaMismatch`` unless ``body`` fits the spec; None when the spec has no such operation."""
        op = self.operation(method, path)
        if op is None:
            return None
        schema = self.schema(op, status)
        if schema is None:
            return op
        validator = Draft7Validator({**schema, "components": self._components[op.spec]})
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:20]]
            raise SchemaMismatch(f"{method} {path} -> {status} does not fit Seqera's {op.template} "
                                 f"({op.spec}):\n" + "\n".join(lines))
        return op


@functools.cache
def specs() -> Specs:
    return Specs()


async def check_response(response: httpx.Response) -> None:
    """An ``httpx`` response hook: check the body of every response to a path Seqera's specs define."""
    request = response.request
    if specs().operation(request.method, request.url.path) is None:
        return  # not Seqera's (e.g. the SSE stream): do not even read the body
    await response.aread()
    body = response.json() if "json" in response.headers.get("content-type", "") and response.content else None
    specs().check(request.method, request.url.path, response.status_code, body)


def checked_client_hooks() -> dict[str, list[Callable[[httpx.Response], Awaitable[None]]]]:
    return {"response": [check_response]}
