"""Read-model row (the folded studio ``State``) to Seqera's ``DataStudioDto``. Pure: lookups come in as arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from libs.contracts.studio import StopReason, StudioConfiguration, StudioStatus
from libs.contracts.studio_state import State
from services.gateway.api.seqera.studios import models as m

#: Our stop reasons that Seqera's enum has a fitting value for; the rest leave ``stopReason`` out (Seqera's schema
#: allows no null there).
SEQERA_STOP_REASONS: dict[StopReason, str] = {
    StopReason.CREDITS_RUN_OUT: "CREDITS_RUN_OUT",
    StopReason.LIFESPAN_EXPIRED: "LIFESPAN_EXPIRED",
    StopReason.SPOT_RECLAMATION: "SPOT_RECLAMATION",
    StopReason.NO_STATS_AVAIL: "NO_STATS_AVAIL",
    StopReason.RECONCILED: "NO_STATS_AVAIL",  # the session was gone when we looked: we know no more
}


@dataclass(frozen=True)
class Lookups:
    """What the DTO shows of other aggregates, keyed by id (strings, as studio events carry them)."""

    users: Mapping[str, m.UserInfo] = field(default_factory=dict)
    compute_envs: Mapping[str, m.DataStudioComputeEnvDto] = field(default_factory=dict)
    labels: Mapping[str, m.LabelDbDto] | None = None  # None: labels were not asked for (``labels: null``)
    data_links: Mapping[str, m.DataLinkDto] = field(default_factory=dict)
    #: clones' ``parentCheckpoint`` by checkpoint id, with its name and studio (``read.checkpoints``)
    parents: Mapping[str, m.ParentCheckpoint] = field(default_factory=dict)


def as_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def studio_url(base_url: str, session_id: str) -> str:
    return f"{base_url.rstrip('/')}/connect/{session_id}/"


def status_info(s: State) -> m.DataStudioStatusInfo:
    reason = s.stop_reason
    return m.DataStudioStatusInfo(
        status=s.status.value if s.status else None,  # type: ignore[arg-type]
        message=s.status_message,
        last_update=s.last_update,
        stop_reason=SEQERA_STOP_REASONS.get(reason) if reason else None,  # type: ignore[arg-type]
        stop_reason_detail=reason.value if reason else None,
    )


def configuration(c: StudioConfiguration) -> m.DataStudioConfigurationDto:
    return m.DataStudioConfigurationDto(
        cpu=c.cpu, gpu=c.gpu, memory=c.memory, mount_data=list(c.mount_data), environment=dict(c.environment),
        conda_environment=c.conda_environment, lifespan_hours=c.lifespan_hours,
        command=list(c.command) if c.command is not None else None, idle_timeout_minutes=c.idle_timeout_minutes,
    )


def progress(s: State) -> list[m.DataStudioProgressStep]:
    return [m.DataStudioProgressStep(message=p.message, status=p.status.value, warnings=list(p.warnings),
                                     detail=p.detail) for p in s.progress]


def active_connections(s: State, users: Mapping[str, m.UserInfo]) -> list[m.ActiveConnection]:
    out = []
    for c in s.active_connections:
        known = users.get(c.user_id) or m.UserInfo(id=as_int(c.user_id), user_name=c.user_name)
        out.append(m.ActiveConnection(**known.model_dump(), last_active=c.last_active))
    return out


def template(s: State) -> m.DataStudioTemplate | None:
    t = s.template
    if t is None:
        return None
    return m.DataStudioTemplate(repository=t.repository, tool=t.tool, icon=t.icon, status=t.status)  # type: ignore[arg-type]


def to_dto(s: State, base_url: str, lookups: Lookups = Lookups(), url: str | None = None) -> m.DataStudioDto:
    """``url``: the studio's URL when it is not ``/connect/<id>/`` under ``base_url`` (subdomain mode)."""
    t = s.template
    links = [lookups.data_links.get(i) or m.DataLinkDto(id=i) for i in s.configuration.mount_data]
    labels = None if lookups.labels is None else [lookups.labels[i] for i in s.label_ids if i in lookups.labels]
    remote = s.remote_config
    return m.DataStudioDto(
        session_id=s.session_id,
        workspace_id=as_int(s.workspace_id),
        name=s.name,
        description=s.description,
        user=lookups.users.get(s.user_id) or m.UserInfo(id=as_int(s.user_id)),
        compute_env=lookups.compute_envs.get(s.compute_env_id) or m.DataStudioComputeEnvDto(id=s.compute_env_id),
        template=template(s),
        configuration=configuration(s.configuration),
        date_created=s.created_at,
        last_updated=s.updated_at,
        last_started=s.last_started,
        effective_lifespan_hours=s.effective_lifespan_hours,
        active_connections=active_connections(s, lookups.users),
        status_info=status_info(s),
        progress=progress(s),
        studio_url=url or studio_url(base_url, s.session_id),
        # the builder records a path (/builds/<id>/logs, the native API): absolute here, as Seqera's clients expect
        wave_build_url=f"{base_url.rstrip('/')}{s.build_url}" if s.build_url and s.build_url.startswith("/")
        else s.build_url,
        base_image=t.repository if t else None,
        custom_image=bool(t and t.tool == "custom"),
        is_private=s.is_private,
        labels=labels,
        mounted_data_links=links,
        parent_checkpoint=(lookups.parents.get(s.parent_checkpoint_id)
                           or m.ParentCheckpoint(checkpoint_id=as_int(s.parent_checkpoint_id)))
        if s.parent_checkpoint_id else None,
        remote_config=m.StudioRemoteConfigurationDto(repository=remote.repository, revision=remote.revision,
                                                  commit_id=remote.commit_id) if remote else None,
        last_activity=_latest(s.last_activity, s.last_work),
        kept_alive_by=kept_alive_by(s) if s.status is StudioStatus.RUNNING else None,
    )


def _latest(*times: datetime | None) -> datetime | None:
    seen = [t for t in times if t is not None]
    return max(seen) if seen else None


def kept_alive_by(s: State) -> list[str]:
    """What the last observations say keeps the session running: connections, and the work last recorded
    (the lifecycle decides the stop with the timeout; this shows what it last saw)."""
    return (["connection"] if s.active_connections else []) + list(s.busy_with)
