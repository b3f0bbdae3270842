from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts.studio import (
    ActiveConnection,
    ProgressStatus,
    ProgressStep,
    RemoteConfig,
    StopReason,
    StudioConfiguration,
    StudioStatus,
    StudioTemplate,
)
from libs.contracts.studio_state import State
from libs.testing.seqera_schema import specs
from services.gateway.api.seqera.dto import Lookups, to_dto
from services.gateway.api.seqera.studios import models as m

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def state(**changes: object) -> State:
    base = State(
        exists=True, session_id="abcd1234", workspace_id="10", user_id="1", name="nb", compute_env_id="ce1",
        template=StudioTemplate(repository="studios/jupyter:4", tool="jupyter", icon="jupyter"),
        configuration=StudioConfiguration(cpu=4, memory=1024, mount_data=("dl1",), command=None),
        status=StudioStatus.STOPPED, last_update=T0, created_at=T0, updated_at=T0, effective_lifespan_hours=8,
        label_ids=("5", "6"),
    )
    return base.model_copy(update=changes)


def test_plain_fields_and_camel_case() -> None:
    dto = to_dto(state(), "http://gw/").model_dump(by_alias=True)
    assert dto["sessionId"] == "abcd1234" and dto["workspaceId"] == 10 and dto["name"] == "nb"
    assert dto["studioUrl"] == "http://gw/connect/abcd1234/"
    assert dto["effectiveLifespanHours"] == 8 and dto["dateCreated"] == T0 and dto["lastUpdated"] == T0
    assert dto["template"] == {"icon": "jupyter", "repository": "studios/jupyter:4", "status": "recommended",
                               "tool": "jupyter"}
    assert dto["configuration"]["cpu"] == 4 and dto["configuration"]["mountData"] == ["dl1"]
    assert dto["user"]["id"] == 1 and dto["computeEnv"]["id"] == "ce1"
    assert dto["labels"] is None  # not asked for
    assert dto["mountedDataLinks"][0]["id"] == "dl1"


def test_status_info_maps_our_stop_reasons() -> None:
    info = to_dto(state(stop_reason=StopReason.LIFESPAN_EXPIRED), "x").status_info
    assert (info.status, info.stop_reason, info.stop_reason_detail) == ("stopped", "LIFESPAN_EXPIRED",
                                                                       "LIFESPAN_EXPIRED")
    info = to_dto(state(stop_reason=StopReason.USER_REQUEST), "x").status_info
    assert info.stop_reason is None and info.stop_reason_detail == "USER_REQUEST"
    assert to_dto(state(stop_reason=StopReason.RECONCILED), "x").status_info.stop_reason == "NO_STATS_AVAIL"


def test_progress_and_connections() -> None:
    s = state(status=StudioStatus.RUNNING, last_started=T0,
              progress=(ProgressStep(message="Provisioning", status=ProgressStatus.SUCCEEDED),
                        ProgressStep(message="Starting", status=ProgressStatus.IN_PROGRESS, detail="pulling")),
              active_connections=(ActiveConnection(user_id="2", user_name="bob", last_active=T0 + timedelta(1),
                                                   connection_ids=("c1",)),))
    dto = to_dto(s, "x", Lookups(users={"2": m.UserInfo(id=2, user_name="bob", email="b@x")}))
    assert [(p.message, p.status, p.detail) for p in dto.progress] == [
        ("Provisioning", "succeeded", None), ("Starting", "in-progress", "pulling")]
    [conn] = dto.active_connections
    assert (conn.id, conn.user_name, conn.email, conn.last_active) == (2, "bob", "b@x", T0 + timedelta(1))
    assert dto.last_started == T0 and dto.status_info.status == "running"


def test_lookups_fill_labels_compute_env_and_links() -> None:
    lookups = Lookups(
        compute_envs={"ce1": m.DataStudioComputeEnvDto(id="ce1", name="local", platform="local-platform")},
        labels={"5": m.LabelDbDto(id=5, name="team", value="a", resource=True)},
        data_links={"dl1": m.DataLinkDto(id="dl1", name="data", provider="aws")},
    )
    dto = to_dto(state(), "x", lookups)
    assert dto.compute_env is not None and dto.compute_env.name == "local"
    assert [label.id for label in dto.labels or []] == [5]
    assert dto.mounted_data_links[0].name == "data"


def test_custom_tool_command_and_private() -> None:
    s = state(template=StudioTemplate(repository="studios/custom:1", tool="custom"), is_private=True,
              configuration=StudioConfiguration(command=("python", "-m", "http.server")))
    dto = to_dto(s, "x")
    assert dto.custom_image and dto.is_private
    assert dto.configuration is not None and dto.configuration.command == ["python", "-m", "http.server"]


def _json(s: State, lookups: Lookups = Lookups()) -> dict[str, object]:
    return to_dto(s, "http://gw/", lookups).model_dump(mode="json", by_alias=True)


def test_absent_fields_are_left_out_not_null() -> None:
    dto = _json(state(status_message=None, stop_reason=StopReason.USER_REQUEST))
    for absent in ("parentCheckpoint", "remoteConfig", "description", "lastStarted", "waveBuildUrl"):
        assert absent not in dto, absent
    assert "message" not in dto["statusInfo"] and "stopReason" not in dto["statusInfo"]  # type: ignore[operator]
    assert dto["statusInfo"]["stopReasonDetail"] == "USER_REQUEST"  # type: ignore[index]
    assert "region" not in dto["computeEnv"] and "condaEnvironment" not in dto["configuration"]  # type: ignore[operator]
    assert "avatar" not in dto["user"]  # type: ignore[operator]


def test_nulls_the_schema_allows_stay() -> None:
    dto = _json(state(remote_config=RemoteConfig(repository="https://example.org/r.git")))
    assert dto["labels"] is None  # Seqera: "labels: null" unless asked for
    assert dto["remoteConfig"] == {"repository": "https://example.org/r.git", "commitId": None, "revision": None}


@pytest.mark.parametrize("changes", [
    {},
    {"status": StudioStatus.RUNNING, "status_message": "ok", "last_started": T0},
    {"stop_reason": StopReason.LIFESPAN_EXPIRED, "parent_checkpoint_id": "7"},
    {"stop_reason": StopReason.SHUTDOWN, "remote_config": RemoteConfig(repository="r", revision="main")},
    {"status": StudioStatus.STARTING, "progress": (ProgressStep(message="m", status=ProgressStatus.PENDING),)},
])
def test_every_dto_fits_seqeras_schema(changes: dict[str, object]) -> None:
    assert specs().check("GET", "/studios/abcd1234", 200, _json(state(**changes))) is not None


def test_the_openapi_document_still_shows_the_dto_fields() -> None:
    """The omitting serializer must not blank the response schemas FastAPI publishes at /docs."""
    schema = m.DataStudioDto.model_json_schema(mode="serialization", by_alias=True)
    assert {"sessionId", "statusInfo", "parentCheckpoint", "remoteConfig"} <= set(schema["properties"])
