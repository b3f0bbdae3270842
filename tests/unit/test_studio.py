"""The studio aggregate: every transition and gate, given events, when a command, then events (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from libs.contracts.errors import Conflict, InvalidInput, NotFound
from libs.contracts.events import Event, registry
from libs.contracts.studio import (
    STUDIO_EVENTS,
    ProgressStatus,
    ProgressStep,
    ResourceUsage,
    StopReason,
    StudioBuildFailed,
    StudioBuildStarted,
    StudioBuildSucceeded,
    StudioConfiguration,
    StudioConnectionActive,
    StudioConnectionClosed,
    StudioConnectionOpened,
    StudioCreated,
    StudioDeleted,
    StudioLifespanExtended,
    StudioOwnerChanged,
    StudioProgressRecorded,
    StudioSessionBusy,
    StudioSessionRunning,
    StudioSessionStopped,
    StudioStartFailed,
    StudioStartRequested,
    StudioStatus,
    StudioStopRequested,
    StudioTemplate,
    StudioUpdated,
)
from libs.contracts.studio_commands import ChangeStudioOwner
from libs.testing.given_when_then import Aggregate
from services.lifecycle.studio import aggregate as studio
from services.lifecycle.studio.aggregate import (
    CreateStudio,
    DeleteStudio,
    ExtendLifespan,
    RecordBuildFailed,
    RecordBuildStarted,
    RecordBuildSucceeded,
    RecordConnection,
    RecordProgress,
    RecordSessionRunning,
    RecordSessionStopped,
    RecordStartFailed,
    StartStudio,
    StopStudio,
    StudioCommand,
    UpdateStudio,
    due_for_lifespan_stop,
)

C = TypeVar("C", bound=StudioCommand)
spec = Aggregate.of(studio)
SID = "sess-1"
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
TEMPLATE = StudioTemplate(repository="studios/jupyterlab:4", tool="jupyter")
CONFIG = StudioConfiguration(cpu=2, memory=4096, lifespan_hours=8, mount_data=("dl-1",))
STEPS = (
    "Provisioning compute resources",
    "Mounting data links",
    "Restoring checkpoint",
    "Starting JupyterLab",
    "Waiting for JupyterLab to respond",
)


def at(minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


def common(minutes: float = 0, actor: str = "u1", reason: str | None = None) -> dict[str, Any]:
    return {"session_id": SID, "at": at(minutes), "actor": actor, "reason": reason}


def cmd(cls: type[C], minutes: float = 0, **kw: Any) -> C:
    return cls(session_id=SID, now=at(minutes), actor=kw.pop("actor", "u1"), **kw)


def create(**kw: Any) -> CreateStudio:
    fields: dict[str, Any] = dict(
        workspace_id="ws-1",
        user_id="u1",
        studio_name="my-studio",
        compute_env_id="ce-1",
        template=TEMPLATE,
        configuration=CONFIG,
    )
    return cmd(CreateStudio, **(fields | kw))


def history(*commands: StudioCommand) -> list[Event]:
    """Events as the aggregate itself would have recorded them."""
    events: list[Event] = []
    state = studio.INITIAL
    for c in commands:
        new = studio.decide(state, c)
        state = spec.fold(new, state)
        events += new
    return events


def history_after(given: list[Event], c: StudioCommand) -> list[Event]:
    return list(studio.decide(spec.fold(given), c))


CREATED = history(create())
STARTING = history(create(), cmd(StartStudio, 1))
RUNNING = [
    *STARTING,
    StudioSessionRunning(
        **common(2), run=1, handle={"pid": 42}, url="http://127.0.0.1:9000", expires_at=at(2 + 8 * 60)
    ),
]
STOPPING = [*RUNNING, StudioStopRequested(**common(10), run=1, stop_reason=StopReason.USER_REQUEST)]
STOPPED = [*STOPPING, StudioSessionStopped(**common(11), run=1, stop_reason=StopReason.USER_REQUEST, exit_code=0)]
ERRORED = [*STARTING, StudioStartFailed(**common(3), run=1, message="boom", failed_step=STEPS[0])]
BUILDING = [*STARTING, StudioBuildStarted(**common(2), run=1, build_id="b1")]
LIVE, LIVE_IDS = [STARTING, RUNNING, STOPPING, BUILDING], ["starting", "running", "stopping", "building"]
BUILD_FAILED = [*BUILDING, StudioBuildFailed(**common(3), run=1, build_id="b1", message="pip failed")]


# creation -------------------------------------------------------------------------------------------------------


def test_create_records_every_fact_and_rests_stopped() -> None:
    state = (
        spec.given()
        .when(create(description="notes", label_ids=("l1",), spot=True))
        .then(
            StudioCreated(
                **common(),
                workspace_id="ws-1",
                user_id="u1",
                name="my-studio",
                description="notes",
                compute_env_id="ce-1",
                template=TEMPLATE,
                configuration=CONFIG,
                effective_lifespan_hours=8,
                label_ids=("l1",),
                spot=True,
            )
        )
    )
    assert (state.status, state.run, state.created_at, state.last_started) == (StudioStatus.STOPPED, 0, T0, None)


def test_create_with_auto_start_also_requests_the_first_run() -> None:
    [_, started] = history(create(auto_start=True))
    assert started == StudioStartRequested(
        **common(),
        run=1,
        compute_env_id="ce-1",
        template=TEMPLATE,
        configuration=CONFIG,
        effective_lifespan_hours=8,
        progress_steps=STEPS,
    )


def test_create_twice_conflicts() -> None:
    spec.given(CREATED).when(create()).then_raises(Conflict)


@pytest.mark.parametrize("name", ["", "x" * 81, " lead", "trail ", "two words", "a/b", "ünï", "tab\t"])
def test_bad_names_are_invalid(name: str) -> None:
    spec.given().when(create(studio_name=name)).then_raises(InvalidInput)


@pytest.mark.parametrize("name", ["a", "x" * 80, "My_Studio-2"])
def test_good_names_pass(name: str) -> None:
    assert spec.given().when(create(studio_name=name)).then(*history(create(studio_name=name))).name == name


def test_description_is_at_most_2048_characters() -> None:
    spec.given().when(create(description="d" * 2049)).then_raises(InvalidInput, "2048")
    assert spec.given().when(create(description="d" * 2048)).then(*history(create(description="d" * 2048)))


@pytest.mark.parametrize(
    "bad",
    [
        {"cpu": -1},
        {"gpu": -1},
        {"memory": -1},
        {"lifespan_hours": -1},
        {"environment": {"1BAD": "x"}},
        {"command": ()},
        {"mount_data": (" ",)},
        {"conda_environment": "c" * 2049},
    ],
)
def test_bad_configuration_is_invalid(bad: dict[str, Any]) -> None:
    spec.given().when(create(configuration=StudioConfiguration(**bad))).then_raises(InvalidInput)
    spec.given(CREATED).when(cmd(StartStudio, configuration=StudioConfiguration(**bad))).then_raises(InvalidInput)


def test_zero_resources_are_allowed() -> None:
    config = StudioConfiguration(cpu=0, gpu=0, memory=0, lifespan_hours=0)
    assert spec.given().when(create(configuration=config)).then(*history(create(configuration=config)))


@pytest.mark.parametrize(
    "command",
    [cmd(StartStudio), cmd(StopStudio), cmd(DeleteStudio), cmd(UpdateStudio, description="x"), cmd(ExtendLifespan)],
)
def test_commands_on_a_missing_or_deleted_studio_are_not_found(command: StudioCommand) -> None:
    spec.given().when(command).then_raises(NotFound)
    spec.given(CREATED, StudioDeleted(**common(1), workspace_id="ws-1", name="my-studio")).when(command).then_raises(
        NotFound
    )


# update ---------------------------------------------------------------------------------------------------------


def test_update_records_only_what_changed() -> None:
    update = cmd(UpdateStudio, 1, studio_name="renamed", description="notes", configuration=CONFIG)
    state = (
        spec.given(CREATED)
        .when(update)
        .then(StudioUpdated(**common(1), name="renamed", previous_name="my-studio", description="notes"))
    )
    assert (state.name, state.description, state.updated_at) == ("renamed", "notes", at(1))


def test_update_that_changes_nothing_is_a_no_op() -> None:
    spec.given(CREATED).when(cmd(UpdateStudio, studio_name="my-studio", configuration=CONFIG)).then_nothing()


def test_update_of_lifespan_recomputes_the_effective_lifespan() -> None:
    config = CONFIG.model_copy(update={"lifespan_hours": None})
    update = cmd(UpdateStudio, 1, configuration=config, workspace_default_lifespan_hours=4)
    spec.given(CREATED).when(update).then(
        StudioUpdated(**common(1), configuration=config, workspace_default_lifespan_hours=4, effective_lifespan_hours=4)
    )


@pytest.mark.parametrize("given", LIVE, ids=LIVE_IDS)
def test_update_while_a_session_is_live_conflicts(given: list[Event]) -> None:
    spec.given(given).when(cmd(UpdateStudio, 20, description="later")).then_raises(Conflict)


@pytest.mark.parametrize("given", [ERRORED, BUILD_FAILED, STOPPED], ids=["errored", "buildFailed", "stopped"])
def test_update_at_rest_is_allowed(given: list[Event]) -> None:
    spec.given(given).when(cmd(UpdateStudio, 20, label_ids=("l9",))).then(
        StudioUpdated(**common(20), label_ids=("l9",))
    )


def test_update_validates_the_new_name() -> None:
    spec.given(CREATED).when(cmd(UpdateStudio, studio_name="no spaces")).then_raises(InvalidInput)


# start ----------------------------------------------------------------------------------------------------------


def test_start_resets_progress_to_pending_steps_named_for_the_tool() -> None:
    state = spec.given(CREATED).when(cmd(StartStudio, 1)).then(STARTING[1:])
    assert state.status is StudioStatus.STARTING
    assert state.progress == tuple(ProgressStep(message=m) for m in STEPS)
    assert (state.run, state.run_key, state.last_started) == (1, f"{SID}-1", at(1))


@pytest.mark.parametrize(
    "tool, shown",
    [("vscode", "VS Code"), ("rstudio", "RStudio"), ("xpra", "Xpra"), ("http-echo", "http-echo"), ("custom", "custom")],
)
def test_progress_steps_name_the_tool(tool: str, shown: str) -> None:
    template = TEMPLATE.model_copy(update={"tool": tool})
    [_, started] = history(create(template=template, auto_start=True))
    assert isinstance(started, StudioStartRequested)
    assert started.progress_steps[3:] == (f"Starting {shown}", f"Waiting for {shown} to respond")


def test_start_carries_overrides_and_the_full_effective_configuration() -> None:
    config = StudioConfiguration(cpu=4, memory=2048)
    start = cmd(
        StartStudio,
        1,
        configuration=config,
        description="d",
        label_ids=("l2",),
        spot=True,
        workspace_default_lifespan_hours=6,
    )
    state = (
        spec.given(CREATED)
        .when(start)
        .then(
            StudioStartRequested(
                **common(1),
                run=1,
                compute_env_id="ce-1",
                template=TEMPLATE,
                configuration=config,
                workspace_default_lifespan_hours=6,
                effective_lifespan_hours=6,
                spot=True,
                progress_steps=STEPS,
                description="d",
                label_ids=("l2",),
            )
        )
    )
    assert (state.configuration, state.description, state.label_ids, state.spot) == (config, "d", ("l2",), True)


@pytest.mark.parametrize("given", LIVE, ids=LIVE_IDS)
def test_start_while_live_conflicts(given: list[Event]) -> None:
    spec.given(given).when(cmd(StartStudio, 20)).then_raises(Conflict)


@pytest.mark.parametrize("given", [ERRORED, BUILD_FAILED, STOPPED], ids=["errored", "buildFailed", "stopped"])
def test_start_again_begins_a_new_run_with_fresh_progress(given: list[Event]) -> None:
    [event] = history_after(given, cmd(StartStudio, 30))
    state = spec.given(given).when(cmd(StartStudio, 30)).then(event)
    assert isinstance(event, StudioStartRequested) and event.run == 2
    assert state.progress == tuple(ProgressStep(message=m) for m in STEPS)
    assert (state.status_message, state.stop_reason, state.handle, state.expires_at) == (None, None, None, None)


# progress, running, failure -------------------------------------------------------------------------------------


def test_progress_updates_one_step() -> None:
    record = cmd(RecordProgress, 2, run=1, step=STEPS[0], status=ProgressStatus.IN_PROGRESS, detail="pulling")
    state = (
        spec.given(STARTING)
        .when(record)
        .then(
            StudioProgressRecorded(
                **common(2), run=1, step=STEPS[0], status=ProgressStatus.IN_PROGRESS, detail="pulling"
            )
        )
    )
    assert state.progress[0] == ProgressStep(message=STEPS[0], status=ProgressStatus.IN_PROGRESS, detail="pulling")
    assert all(p.status is ProgressStatus.PENDING for p in state.progress[1:])
    spec.given(STARTING, history_after(STARTING, record)).when(record).then_nothing()  # redelivered


def test_progress_for_an_unknown_step_is_invalid() -> None:
    record = cmd(RecordProgress, 2, run=1, step="Dancing", status=ProgressStatus.SUCCEEDED)
    spec.given(STARTING).when(record).then_raises(InvalidInput)


@pytest.mark.parametrize(
    "record",
    [
        cmd(RecordProgress, 2, run=0, step=STEPS[0], status=ProgressStatus.SUCCEEDED),
        cmd(RecordSessionRunning, 2, run=7, handle={}, url="http://x"),
        cmd(RecordStartFailed, 2, run=2, message="old"),
        cmd(RecordSessionStopped, 2, run=2, exit_code=1),
        cmd(RecordBuildStarted, 2, run=0, build_id="b0"),
        cmd(RecordConnection, 2, run=0, user_id="u2", connection_id="c1", connected=True),
        cmd(StopStudio, 600, run=0, stop_reason=StopReason.IDLE_TIMEOUT),
    ],
    ids=lambda c: type(c).__name__,
)
def test_commands_about_another_run_are_ignored(record: StudioCommand) -> None:
    spec.given(RUNNING).when(record).then_nothing()


def test_running_records_handle_url_and_expiry_and_settles_progress() -> None:
    running = cmd(RecordSessionRunning, 2, run=1, handle={"pid": 42}, url="http://127.0.0.1:9000")
    state = spec.given(STARTING).when(running).then(RUNNING[-1])
    assert (state.status, state.handle, state.url) == (StudioStatus.RUNNING, {"pid": 42}, "http://127.0.0.1:9000")
    assert state.expires_at == at(2) + timedelta(hours=8)
    assert all(p.status is ProgressStatus.SUCCEEDED for p in state.progress)
    spec.given(RUNNING).when(running).then_nothing()  # redelivered
    late = cmd(RecordProgress, 3, run=1, step=STEPS[3], status=ProgressStatus.IN_PROGRESS)
    spec.given(RUNNING).when(late).then_nothing()


def test_failed_start_errors_the_studio_and_the_step_in_progress() -> None:
    in_progress = StudioProgressRecorded(**common(2), run=1, step=STEPS[2], status=ProgressStatus.IN_PROGRESS)
    failed = cmd(RecordStartFailed, 3, run=1, message="port never opened")
    state = (
        spec.given(STARTING, in_progress)
        .when(failed)
        .then(StudioStartFailed(**common(3), run=1, message="port never opened", failed_step=STEPS[2]))
    )
    assert (state.status, state.status_message, state.stop_reason) == (
        StudioStatus.ERRORED,
        "port never opened",
        StopReason.ERROR,
    )
    assert [p.status for p in state.progress][2] is ProgressStatus.ERRORED
    spec.given(STARTING, in_progress, ERRORED[-1]).when(failed).then_nothing()


def test_failed_start_without_a_step_in_progress_blames_the_first_pending_one() -> None:
    spec.given(STARTING).when(cmd(RecordStartFailed, 3, run=1, message="boom")).then(ERRORED[-1])


def test_running_after_a_failed_start_is_ignored() -> None:
    spec.given(ERRORED).when(cmd(RecordSessionRunning, 4, run=1, handle={}, url="http://x")).then_nothing()


# build ----------------------------------------------------------------------------------------------------------


def test_build_moves_starting_to_building_and_back() -> None:
    state = spec.given(STARTING).when(cmd(RecordBuildStarted, 2, run=1, build_id="b1")).then(BUILDING[-1])
    assert (state.status, state.build_id) == (StudioStatus.BUILDING, "b1")
    spec.given(BUILDING).when(cmd(RecordBuildStarted, 2, run=1, build_id="b1")).then_nothing()
    state = (
        spec.given(BUILDING)
        .when(cmd(RecordBuildSucceeded, 5, run=1, build_id="b1"))
        .then(StudioBuildSucceeded(**common(5), run=1, build_id="b1"))
    )
    assert state.status is StudioStatus.STARTING
    spec.given(BUILDING).when(cmd(RecordBuildSucceeded, 5, run=1, build_id="other")).then_nothing()


def test_failed_build_is_build_failed() -> None:
    state = (
        spec.given(BUILDING)
        .when(cmd(RecordBuildFailed, 3, run=1, build_id="b1", message="pip failed"))
        .then(BUILD_FAILED[-1])
    )
    assert (state.status, state.status_message) == (StudioStatus.BUILD_FAILED, "pip failed")
    spec.given(BUILD_FAILED).when(cmd(RecordBuildFailed, 3, run=1, message="again")).then_nothing()


def test_running_straight_from_building() -> None:
    running = cmd(RecordSessionRunning, 9, run=1, handle={}, url="http://x")
    assert spec.given(BUILDING).when(running).then(history_after(BUILDING, running)).status is StudioStatus.RUNNING


# stop -----------------------------------------------------------------------------------------------------------


def test_stop_a_running_studio() -> None:
    state = spec.given(RUNNING).when(cmd(StopStudio, 10)).then(STOPPING[-1])
    assert (state.status, state.stop_reason, state.last_update) == (
        StudioStatus.STOPPING,
        StopReason.USER_REQUEST,
        at(10),
    )


def test_session_stopped_after_a_stop_request_keeps_its_reason() -> None:
    stopped = cmd(RecordSessionStopped, 11, run=1, exit_code=0)
    state = spec.given(STOPPING).when(stopped).then(STOPPED[-1])
    assert (state.status, state.stop_reason, state.last_stopped) == (
        StudioStatus.STOPPED,
        StopReason.USER_REQUEST,
        at(11),
    )
    assert (state.expires_at, state.active_connections) == (None, ())
    spec.given(STOPPED).when(stopped).then_nothing()  # redelivered


def test_stop_a_stopped_studio_conflicts() -> None:
    spec.given(STOPPED).when(cmd(StopStudio, 20)).then_raises(Conflict)
    spec.given(CREATED).when(cmd(StopStudio, 20)).then_raises(Conflict)
    spec.given(ERRORED).when(cmd(StopStudio, 20)).then_raises(Conflict)


def test_a_timer_stop_after_the_session_ended_is_a_no_op() -> None:
    spec.given(STOPPED).when(cmd(StopStudio, 20, run=1, stop_reason=StopReason.IDLE_TIMEOUT)).then_nothing()


@pytest.mark.parametrize("given", [STARTING, BUILDING], ids=["starting", "building"])
def test_stop_while_starting_only_once_stuck_for_30_minutes(given: list[Event]) -> None:
    # STARTING asked to start at minute 1
    spec.given(given).when(cmd(StopStudio, 1 + 29.9)).then_raises(Conflict, "30 minutes")
    state = (
        spec.given(given)
        .when(cmd(StopStudio, 1 + 30))
        .then(StudioStopRequested(**common(1 + 30), run=1, stop_reason=StopReason.USER_REQUEST))
    )
    assert state.status is StudioStatus.STOPPING


def test_stop_while_stopping_forces_only_after_10_minutes() -> None:
    spec.given(STOPPING).when(cmd(StopStudio, 19.9, actor="admin")).then_raises(Conflict, "10 minutes")
    state = (
        spec.given(STOPPING)
        .when(cmd(StopStudio, 20, actor="admin", stop_reason=StopReason.ADMIN))
        .then(
            StudioStopRequested(**common(20, "admin"), run=1, stop_reason=StopReason.ADMIN, force=True),
            StudioSessionStopped(
                **common(20, "admin"), run=1, stop_reason=StopReason.USER_REQUEST, message="Stop forced"
            ),
        )
    )
    assert state.status is StudioStatus.STOPPED
    forced = [*STOPPING, *history_after(STOPPING, cmd(StopStudio, 20))]
    late_report = cmd(RecordSessionStopped, 21, run=1, exit_code=137)
    spec.given(forced).when(late_report).then_nothing()


@pytest.mark.parametrize(
    "exit_code, stop_reason, status, recorded",
    [
        (1, None, StudioStatus.ERRORED, StopReason.ERROR),
        (None, None, StudioStatus.ERRORED, StopReason.ERROR),
        (0, None, StudioStatus.STOPPED, StopReason.USER_REQUEST),
        (None, StopReason.RECONCILED, StudioStatus.STOPPED, StopReason.RECONCILED),
        (143, StopReason.SPOT_RECLAMATION, StudioStatus.STOPPED, StopReason.SPOT_RECLAMATION),
    ],
)
def test_a_session_that_ends_on_its_own(
    exit_code: int | None, stop_reason: StopReason | None, status: StudioStatus, recorded: StopReason
) -> None:
    ended = cmd(RecordSessionStopped, 30, run=1, exit_code=exit_code, stop_reason=stop_reason)
    [event] = history_after(RUNNING, ended)
    state = spec.given(RUNNING).when(ended).then(event)
    assert (state.status, state.stop_reason, state.exit_code) == (status, recorded, exit_code)
    if exit_code == 1:
        assert state.status_message == "Session exited with code 1"


def test_a_tool_that_exits_on_its_own_is_errored_with_its_code_output_and_reason() -> None:
    message = "Session exited with code 7. Last output:\nTraceback\nboom"
    ended = cmd(RecordSessionStopped, 30, run=1, exit_code=7, message=message,
                reason="the tool exited on its own with code 7")
    state = spec.given(RUNNING).when(ended).then(
        StudioSessionStopped(**common(30, reason="the tool exited on its own with code 7"), run=1,
                             stop_reason=StopReason.ERROR, exit_code=7, message=message, errored=True))
    assert (state.status, state.exit_code, state.status_message) == (StudioStatus.ERRORED, 7, message)


def test_a_run_records_its_usage_at_stop_and_the_next_start_clears_it() -> None:
    usage = ResourceUsage(peak_memory_mb=310, avg_cpu_millicores=120, peak_cpu_millicores=980)
    stopped = [*STOPPING, *history_after(STOPPING, cmd(RecordSessionStopped, 12, run=1, exit_code=0, usage=usage))]
    [event] = stopped[len(STOPPING):]
    assert isinstance(event, StudioSessionStopped) and event.usage == usage
    assert spec.fold(stopped).usage == usage
    restarted = [*stopped, *history_after(stopped, cmd(StartStudio, 13))]
    assert spec.fold(restarted).usage is None


# lifespan -------------------------------------------------------------------------------------------------------


def test_lifespan_falls_back_to_the_workspace_default_and_zero_is_unlimited() -> None:
    no_own = CONFIG.model_copy(update={"lifespan_hours": None})
    with_default = history(create(configuration=no_own, workspace_default_lifespan_hours=3))
    assert spec.fold(with_default).effective_lifespan_hours == 3
    assert spec.fold(history(create(configuration=no_own))).effective_lifespan_hours == 0
    unlimited = CONFIG.model_copy(update={"lifespan_hours": 0})
    events = history(
        create(configuration=unlimited, workspace_default_lifespan_hours=3, auto_start=True),
        cmd(RecordSessionRunning, 1, run=1, handle={}, url="http://x"),
    )
    state = spec.fold(events)
    assert (state.status, state.expires_at) == (StudioStatus.RUNNING, None)
    assert not due_for_lifespan_stop(state, at(10_000_000))


def test_due_for_lifespan_stop_from_the_running_time() -> None:
    state = spec.fold(RUNNING)
    assert not due_for_lifespan_stop(state, at(2 + 8 * 60 - 1))
    assert due_for_lifespan_stop(state, at(2 + 8 * 60))
    assert not due_for_lifespan_stop(spec.fold(STOPPED), at(2 + 8 * 60))


def test_lifespan_stop_only_when_due() -> None:
    def expire(minutes: float) -> StopStudio:
        return cmd(StopStudio, minutes, run=1, stop_reason=StopReason.LIFESPAN_EXPIRED, actor="system")

    spec.given(RUNNING).when(expire(2 + 8 * 60 - 1)).then_nothing()
    spec.given(RUNNING).when(expire(2 + 8 * 60)).then(
        StudioStopRequested(**common(2 + 8 * 60, "system"), run=1, stop_reason=StopReason.LIFESPAN_EXPIRED)
    )


def test_extend_lifespan_adds_hours_to_the_expiry() -> None:
    state = (
        spec.given(RUNNING)
        .when(cmd(ExtendLifespan, 60, hours=2))
        .then(StudioLifespanExtended(**common(60), run=1, hours=2, expires_at=at(2 + 10 * 60)))
    )
    assert state.expires_at == at(2 + 10 * 60)
    extended = [*RUNNING, *history_after(RUNNING, cmd(ExtendLifespan, 60, hours=2))]
    old_timer = cmd(StopStudio, 2 + 8 * 60, run=1, stop_reason=StopReason.LIFESPAN_EXPIRED)
    spec.given(extended).when(old_timer).then_nothing()


def test_extend_without_hours_uses_the_effective_lifespan() -> None:
    spec.given(RUNNING).when(cmd(ExtendLifespan, 60)).then(
        StudioLifespanExtended(**common(60), run=1, hours=8, expires_at=at(2 + 16 * 60))
    )


def test_extend_gates() -> None:
    spec.given(STARTING).when(cmd(ExtendLifespan, 5, hours=1)).then_raises(Conflict)
    spec.given(STOPPED).when(cmd(ExtendLifespan, 20, hours=1)).then_raises(Conflict)
    spec.given(RUNNING).when(cmd(ExtendLifespan, 5, hours=0)).then_raises(InvalidInput)
    unlimited = history(
        create(configuration=StudioConfiguration(lifespan_hours=0), auto_start=True),
        cmd(RecordSessionRunning, 1, run=1, handle={}, url="http://x"),
    )
    spec.given(unlimited).when(cmd(ExtendLifespan, 5, hours=1)).then_raises(Conflict, "unlimited")


# delete ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given", [CREATED, STOPPED, ERRORED, BUILD_FAILED], ids=["never-started", "stopped", "errored", "buildFailed"]
)
def test_delete_at_rest(given: list[Event]) -> None:
    state = (
        spec.given(given)
        .when(cmd(DeleteStudio, 40))
        .then(StudioDeleted(**common(40), workspace_id="ws-1", name="my-studio"))
    )
    assert state.deleted


@pytest.mark.parametrize("given", LIVE, ids=LIVE_IDS)
def test_delete_while_live_conflicts(given: list[Event]) -> None:
    spec.given(given).when(cmd(DeleteStudio, 20)).then_raises(Conflict)


# connections ----------------------------------------------------------------------------------------------------


def connect(minutes: float, conn: str, connected: bool = True, user: str = "u2") -> RecordConnection:
    return cmd(RecordConnection, minutes, user_id=user, user_name="Ada", connection_id=conn, connected=connected)


def test_connections_are_listed_per_user_while_any_is_open() -> None:
    one = [*RUNNING, *history_after(RUNNING, connect(3, "c1"))]
    assert one[-1] == StudioConnectionOpened(**common(3), run=1, user_id="u2", user_name="Ada", connection_id="c1")
    spec.given(one).when(connect(3, "c1")).then_nothing()  # redelivered
    two = [*one, *history_after(one, connect(4, "c2"))]
    [conn] = spec.fold(two).active_connections
    assert (conn.user_id, conn.user_name, conn.connection_ids, conn.last_active) == ("u2", "Ada", ("c1", "c2"), at(4))
    state = (
        spec.given(two)
        .when(connect(5, "c1", False))
        .then(StudioConnectionClosed(**common(5), run=1, user_id="u2", connection_id="c1"))
    )
    assert [c.connection_ids for c in state.active_connections] == [("c2",)]
    state = (
        spec.given(two, history_after(two, connect(5, "c1", False)))
        .when(connect(6, "c2", False))
        .then(StudioConnectionClosed(**common(6), run=1, user_id="u2", connection_id="c2"))
    )
    assert state.active_connections == ()
    spec.given(RUNNING).when(connect(6, "never", False)).then_nothing()


def test_connections_only_while_running_and_cleared_on_stop() -> None:
    spec.given(STARTING).when(connect(3, "c1")).then_nothing()
    spec.given(STOPPED).when(connect(30, "c1")).then_nothing()
    connected = [*RUNNING, *history_after(RUNNING, connect(3, "c1"))]
    stopped = history_after(connected, cmd(RecordSessionStopped, 9, run=1, exit_code=1))
    assert spec.fold([*connected, *stopped]).active_connections == ()


# contracts and the helper ---------------------------------------------------------------------------------------


def test_change_owner_gives_the_studio_to_another_user_once() -> None:
    state = spec.given(*CREATED).when(cmd(ChangeStudioOwner, 3, user_id="u9")).then(
        StudioOwnerChanged(**common(3), user_id="u9", previous_user_id="u1"))
    assert state.user_id == "u9"
    spec.given(*CREATED).when(cmd(ChangeStudioOwner, 3, user_id="u1")).then()  # already theirs: nothing
    spec.given(*STOPPED, *history_after(STOPPED, cmd(DeleteStudio, 20))).when(
        cmd(ChangeStudioOwner, 30, user_id="u9")).then_raises(NotFound)


def test_every_event_round_trips_through_the_registry() -> None:
    samples = [
        *STOPPED,
        *BUILD_FAILED[-2:],
        *ERRORED[-1:],
        *history_after(RUNNING, connect(3, "c1")),
        *history_after(RUNNING, cmd(ExtendLifespan, 9)),
        *history_after(STOPPED, cmd(DeleteStudio, 20)),
        *history_after(CREATED, cmd(UpdateStudio, description="x")),
        *history_after(CREATED, cmd(ChangeStudioOwner, 3, user_id="u9")),
        StudioBuildSucceeded(**common(), run=1, build_id="b"),
        StudioConnectionClosed(**common(), run=1, user_id="u", connection_id="c"),
        StudioConnectionActive(**common(), run=1, user_id="u", connection_id="c"),
        StudioSessionBusy(**common(), run=1, work=("kernel busy",)),
        StudioProgressRecorded(**common(), run=1, step="s", status=ProgressStatus.ERRORED, warnings=("w",)),
    ]
    assert {type(e) for e in samples} == set(STUDIO_EVENTS)
    for event in samples:
        event_type, version, data = registry.dump(event)
        assert (event_type, version) == (type(event).__name__, type(event).schema_version)
        assert registry.load(event_type, version, data) == event


def test_the_helper_reports_mismatches() -> None:
    with pytest.raises(AssertionError, match="expected events"):
        spec.given(CREATED).when(cmd(StartStudio, 1)).then()
    with pytest.raises(AssertionError, match="expected Conflict"):
        spec.given(CREATED).when(cmd(StartStudio, 1)).then_raises(Conflict)


def test_a_new_workspace_default_alone_is_no_edit() -> None:
    spec.given(RUNNING).when(cmd(UpdateStudio, 5, workspace_default_lifespan_hours=2)).then_nothing()
    spec.given(CREATED).when(cmd(UpdateStudio, 5, workspace_default_lifespan_hours=2)).then_nothing()


def test_blank_ids_are_invalid() -> None:
    spec.given().when(create(compute_env_id=" ")).then_raises(InvalidInput, "computeEnvId")
    spec.given().when(create(template=StudioTemplate(repository="", tool="jupyter"))).then_raises(InvalidInput)
