"""A building studio as Seqera's DTO shows it: ``building``, ``waveBuildUrl`` the build's logs (absolute), and the
build step first in ``progress``; a failed build is ``buildFailed`` with the installer's message."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.contracts.studio import (
    StudioBuildFailed,
    StudioBuildStarted,
    StudioConfiguration,
    StudioCreated,
    StudioStartRequested,
    StudioTemplate,
)
from libs.contracts.studio_state import INITIAL, evolve
from services.gateway.api.seqera.dto import to_dto
from services.lifecycle.studio.rules import BUILD_STEP, progress_steps

NOW = datetime(2026, 1, 1, tzinfo=UTC)
COMMON = {"session_id": "s1", "at": NOW, "actor": "1"}
TEMPLATE = StudioTemplate(repository="studios/jupyter:4", tool="jupyter")
CONFIG = StudioConfiguration(conda_environment="dependencies:\n  - pip:\n    - tinypkg\n")


def _building() -> list[object]:
    return [
        StudioCreated(**COMMON, workspace_id="1", user_id="1", name="lab", compute_env_id="local", template=TEMPLATE,
                      configuration=CONFIG, effective_lifespan_hours=0),
        StudioStartRequested(**COMMON, run=1, compute_env_id="local", template=TEMPLATE, configuration=CONFIG,
                             effective_lifespan_hours=0, progress_steps=progress_steps("jupyter", build=True)),
        StudioBuildStarted(**COMMON, run=1, build_id="b1", build_url="/builds/b1/logs"),
    ]


def test_a_building_studio_links_its_build_logs_and_shows_the_build_step_first() -> None:
    state = INITIAL
    for e in _building():
        state = evolve(state, e)  # type: ignore[arg-type]
    dto = to_dto(state, "http://gw.test/")
    assert dto.status_info is not None and dto.status_info.status == "building"
    assert dto.wave_build_url == "http://gw.test/builds/b1/logs"
    assert dto.progress is not None and dto.progress[0].message == BUILD_STEP


def test_a_failed_build_is_build_failed_with_the_installers_message() -> None:
    state = INITIAL
    for e in [*_building(), StudioBuildFailed(**COMMON, run=1, build_id="b1", message="nopkg was not found")]:
        state = evolve(state, e)  # type: ignore[arg-type]
    dto = to_dto(state, "http://gw.test")
    assert dto.status_info is not None and dto.status_info.status == "buildFailed"
    assert dto.status_info.message == "nopkg was not found"
