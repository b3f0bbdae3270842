"""Between Civis's words and ours, pure: ids, images, resources, params and states.

- A studio's integer id is its 8-hex-digit session id read as a number (``int("1a2b3c4d", 16)``), so both dialects
  name one studio and no id table is needed; a deployment's id is the run number (paths always carry the studio).
- ``dockerImageName``/``dockerImageTag`` are a template's repository split at its last colon.
- ``requiredResources``: cpu in millicores (our cores x 1000), memory in MiB (ours), disk in GB.
- What our configuration has no field for (``instanceType``, ``diskSpace``, ``gitCredentialId``, the params'
  types and descriptions) rides in one environment variable, ``CIVIS_STUDIO`` (JSON, never a value of a param);
  each param's value is the environment variable of its name. Values of credential params (Civis credential ids)
  are kept but never shown.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from libs.contracts.errors import InvalidInput, NotFound
from libs.contracts.studio import StudioConfiguration, StudioStatus
from services.gateway.api.civis.requests import CREDENTIAL_TYPES, Param, RequiredResources
from services.gateway.domain.permissions import Role

META_VAR = "CIVIS_STUDIO"
DEFAULT_TAG = "latest"
_SESSION = re.compile(r"^[0-9a-f]{8}$")
_LEVELS = {Role.VIEW: "read", Role.CONNECT: "read", Role.LAUNCH: "write"}
#: our status -> Civis's deployment state (compared case-insensitively by clients)
STATES = {StudioStatus.STARTING: "pending", StudioStatus.BUILDING: "pending", StudioStatus.RUNNING: "running",
          StudioStatus.STOPPING: "stopping", StudioStatus.STOPPED: "stopped", StudioStatus.ERRORED: "failed",
          StudioStatus.BUILD_FAILED: "failed"}


def studio_id(session_id: str) -> int | None:
    """The Civis id of a studio; None for a session id that is not 8 hex digits (not addressable from Civis)."""
    return int(session_id, 16) if _SESSION.fullmatch(session_id) else None


def session_of(studio: int) -> str:
    if not 0 <= studio < 2**32:
        raise NotFound(f"Studio {studio} not found")
    return f"{studio:08x}"


def split_image(repository: str) -> tuple[str, str]:
    name, colon, tag = repository.rpartition(":")
    if not colon or "/" in tag:  # no tag (a colon only in a registry's host:port)
        return repository, DEFAULT_TAG
    return name, tag


def image(name: str | None, tag: str | None) -> str | None:
    if name is None:
        return None
    if not name.strip():
        raise InvalidInput("docker_image_name must not be blank", field="docker_image_name")
    return f"{name.strip()}:{(tag or DEFAULT_TAG).strip()}"


def permission_level(role: Role | None) -> str:
    return _LEVELS.get(role, "manage") if role is not None else "read"


def state_of(status: str | StudioStatus | None) -> str:
    try:
        return STATES[StudioStatus(status)] if status is not None else "pending"
    except ValueError:
        return str(status)


def meta(config: StudioConfiguration) -> dict[str, Any]:
    try:
        found = json.loads(config.environment.get(META_VAR, "{}"))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _env_value(p: Param) -> str:
    if p.value is None:
        return ""
    if isinstance(p.value, bool):
        return "true" if p.value else "false"
    if isinstance(p.value, (dict, list)):
        return json.dumps(p.value)
    return str(p.value)


def _shown_value(kind: str, raw: str | None) -> Any:
    if raw is None or kind in CREDENTIAL_TYPES:
        return None
    try:
        if kind == "integer":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        return raw
    if kind == "bool":
        return raw.lower() == "true"
    return raw


def params_of(config: StudioConfiguration) -> list[dict[str, Any]]:
    return [{"name": p["name"], "description": p.get("description"), "type": p["type"],
             "value": _shown_value(p["type"], config.environment.get(p["name"]))}
            for p in meta(config).get("params", [])]


def configure(base: StudioConfiguration, resources: RequiredResources | None, params: list[Param] | None,
              extra: dict[str, Any]) -> StudioConfiguration:
    """``base`` with what the request set: resources, params (replacing the old ones) and the Civis-only fields."""
    m = meta(base)
    env = dict(base.environment)
    update: dict[str, Any] = {}
    if resources is not None:
        if resources.cpu is not None:
            update["cpu"] = max(1, math.ceil(resources.cpu / 1000))
        if resources.memory is not None:
            update["memory"] = resources.memory
        if resources.disk_space is not None:
            m["diskSpace"] = resources.disk_space
    if params is not None:
        names = [p.name for p in params]
        if len(set(names)) != len(names) or META_VAR in names:
            raise InvalidInput(f"param names must be unique and not {META_VAR}", field="params")
        for old in m.get("params", []):
            env.pop(old["name"], None)
        env.update({p.name: _env_value(p) for p in params})
        m["params"] = [{"name": p.name, "type": p.type, "description": p.description} for p in params]
    m.update({k: v for k, v in extra.items() if v is not None})
    if m:
        env[META_VAR] = json.dumps(m, sort_keys=True)
    else:  # nothing Civis-only to keep: a studio made elsewhere is not given the variable
        env.pop(META_VAR, None)
    return base.model_copy(update={**update, "environment": env})


def resources_of(config: StudioConfiguration) -> dict[str, Any]:
    return {"cpu": config.cpu * 1000, "memory": config.memory, "diskSpace": meta(config).get("diskSpace")}
