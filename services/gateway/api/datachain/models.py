"""DataChain Studio's wire shapes (seed 004, and what datachain 0.62's client reads): ``JobInput`` in, ``JobOutput``
and ``ComputeClusterOutput`` out. Fields the client sends that Studios does not act on (``rerun_from_job_id``,
``reset``) are accepted and ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from libs.contracts.errors import InvalidInput
from libs.contracts.job import QueryType, State


class JobInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1, max_length=1_000_000)
    query_type: QueryType = QueryType.PYTHON
    team_name: str | None = None
    environment: str | dict[str, str] | None = None
    workers: int | None = Field(None, ge=1, le=1000)
    query_name: str | None = Field(None, max_length=500)
    files: list[str | int] | None = None
    python_version: str | None = Field(None, max_length=20)
    requirements: str | None = Field(None, max_length=100_000)
    repository: str | None = Field(None, max_length=2000)
    priority: int | None = Field(None, ge=0, le=5)
    compute_cluster_name: str | None = None
    compute_cluster_id: str | int | None = None
    start_after: datetime | None = None
    cron_expression: str | None = Field(None, max_length=200)
    credentials_name: str | None = None


class CancelInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    team_name: str | None = None


def environment(value: str | dict[str, str] | None) -> dict[str, str]:
    """``A=1`` lines (blank lines and ``#`` comments skipped) or a map, as the job process's environment."""
    if value is None:
        return {}
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = []
        for raw in value.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, val = line.partition("=")
            if not sep:
                raise InvalidInput(f"environment: '{line}' is not NAME=value", field="environment")
            pairs.append((name.strip().removeprefix("export ").strip(), val.strip()))
    for name, _ in pairs:
        if not name.isidentifier():
            raise InvalidInput(f"environment: '{name}' is not a variable name", field="environment")
    return {k: str(v) for k, v in pairs}


def aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def job_output(s: State, public_url: str | None, steps: bool = False) -> dict[str, Any]:
    spec = s.spec
    assert spec is not None and s.status is not None
    out: dict[str, Any] = {
        "id": s.job_id, "url": f"{public_url or ''}/api/datachain/jobs/?team_name={s.team}&job_id={s.job_id}",
        "status": s.status.value, "created_at": _t(s.created_at), "created_by": s.created_by,
        "started_at": _t(s.running_at), "finished_at": _t(s.finished_at), "query": spec.query,
        "query_type": spec.query_type.value, "team": s.team, "name": spec.name, "workers": spec.workers,
        "python_version": spec.python_version, "requirements": spec.requirements, "repository": spec.repository,
        "environment": spec.environment, "exit_code": s.exit_code, "error_message": s.error_message,
        "priority": spec.priority, "compute_cluster_id": spec.cluster_id, "compute_cluster_name": spec.cluster_name,
        "start_after": _t(spec.start_after), "cron_expression": spec.cron_expression,
        "credentials_name": spec.credentials_name, "parent_job_id": s.parent_id, "files": [f.id for f in spec.files],
        "metrics": {}, "steps": _steps(s) if steps else None,
    }
    return out


def _steps(s: State) -> list[dict[str, Any]]:
    return [{"name": "QUEUED", "label": "Queued", "started_at": _t(s.created_at),
             "finished_at": _t(s.running_at or s.finished_at)},
            {"name": "RUNNING", "label": "Running", "started_at": _t(s.running_at),
             "finished_at": _t(s.finished_at) if s.running_at else None}]


def _t(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None
