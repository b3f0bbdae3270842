"""Compute environment configs in Seqera's ``ComputeConfig`` shape, per platform we run on. Pure validation.

``local-platform`` and ``k8s-platform`` follow Seqera's ``LocalComputeConfig`` / ``K8sComputeConfig`` field names;
``docker-platform`` is ours (Seqera has none) and adds the Docker daemon URL and a network. Unknown fields are
rejected so a typo never silently drops a setting; Seqera's read-only ``discriminator`` is accepted and dropped.
``k8s-platform`` only requires ``workDir`` (Seqera also requires ``server``/``sslCert``): a gateway running in the
cluster uses its service account.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from libs.contracts.errors import InvalidInput


class EnvVariable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str = Field(max_length=10_000)
    head: bool | None = None
    compute: bool | None = None


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
    discriminator: str | None = None
    work_dir: str = Field(min_length=1, max_length=1000)
    pre_run_script: str | None = Field(default=None, max_length=10_000)
    post_run_script: str | None = Field(default=None, max_length=10_000)
    environment: list[EnvVariable] | None = None
    nextflow_config: str | None = Field(default=None, max_length=10_000)
    #: our extension: as a DataChain compute cluster, how many jobs run on it at once (docs/jobs.md)
    max_workers: int | None = Field(default=None, ge=1, le=10_000)


class LocalConfig(_Config):
    wave_enabled: bool | None = None
    fusion2_enabled: bool | None = None
    sched_enabled: bool | None = None
    sched_config: dict[str, Any] | None = None
    allow_custom_commands: bool = False  # our extension: the `custom` tool may run any command (admins only)


class DockerConfig(_Config):
    docker_host: str | None = Field(default=None, max_length=1000)  # e.g. unix:///var/run/docker.sock
    network: str | None = Field(default=None, max_length=200)


class Toleration(BaseModel):
    """A pod toleration, in the Kubernetes API's own field names."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    operator: str | None = Field(default=None, pattern=r"^(Exists|Equal)$")
    value: str | None = None
    effect: str | None = Field(default=None, pattern=r"^(NoSchedule|PreferNoSchedule|NoExecute)$")
    tolerationSeconds: int | None = None  # the API's own name


class K8sConfig(_Config):
    server: str | None = Field(default=None, max_length=1000)
    ssl_cert: str | None = Field(default=None, max_length=20_000)
    namespace: str | None = Field(default=None, max_length=253)
    compute_service_account: str | None = None
    head_service_account: str | None = None
    storage_claim_name: str | None = None
    storage_mount_path: str | None = None
    pod_cleanup: str | None = Field(default=None, pattern=r"^(on_success|always|never)$")
    head_pod_spec: str | None = None
    service_pod_spec: str | None = None
    head_job_cpus: int | None = Field(default=None, ge=0)
    head_job_memory_mb: int | None = Field(default=None, ge=0)
    #: our extensions: where the kubernetes backend puts session pods (docs/backends.md, "Kubernetes")
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    spot_node_selector: dict[str, str] | None = None
    storage_class_name: str | None = Field(default=None, max_length=253)
    workspace_size: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")


PLATFORMS: dict[str, type[_Config]] = {
    "local-platform": LocalConfig,
    "docker-platform": DockerConfig,
    "k8s-platform": K8sConfig,
}


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err["loc"])
        parts.append(f"config.{where}: {err['msg']}")
    return "; ".join(parts)


def validate_config(platform: str, config: Any) -> tuple[dict[str, Any], bool]:
    """The config as stored (camelCase, no discriminator, no custom-commands flag) and that flag."""
    model = PLATFORMS.get(platform)
    if model is None:
        raise InvalidInput(f"Unsupported platform '{platform}': use one of {', '.join(PLATFORMS)}")
    if not isinstance(config, dict):
        raise InvalidInput("config must be an object")
    try:
        parsed = model.model_validate(config)
    except ValidationError as e:
        raise InvalidInput(f"Invalid {platform} config: {_describe(e)}") from None
    custom = bool(getattr(parsed, "allow_custom_commands", False))
    data = parsed.model_dump(by_alias=True, exclude_none=True, exclude={"discriminator", "allow_custom_commands"})
    return data, custom
