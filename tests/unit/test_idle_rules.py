"""When a running session is idle: no live connection (an expired lease is none), and no connection activity, no
work and no change for the whole timeout; the studio's ``idleTimeoutMinutes`` wins over the service default (0:
never); what keeps a session alive is named; a negative timeout is refused; work is recorded only while running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts.errors import InvalidInput
from libs.contracts.studio import ActiveConnection, StudioConfiguration, StudioStatus
from libs.contracts.studio_commands import RecordWork
from libs.contracts.studio_state import State
from services.lifecycle.studio import reports, rules

T = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)
RUNNING = State(exists=True, session_id="s1", status=StudioStatus.RUNNING, run=1, updated_at=T, last_running=T)


def connected(lease_until: datetime | None) -> State:
    conn = ActiveConnection(user_id="7", last_active=T, connection_ids=("c1",), lease_until=lease_until)
    return RUNNING.model_copy(update={"active_connections": (conn,), "last_activity": T})


def test_a_live_connection_keeps_the_session_however_long_ago_its_activity() -> None:
    assert not rules.idle(connected(T + 100 * MIN), T + 90 * MIN, 30 * MIN)
    assert rules.keeping_alive(connected(T + 100 * MIN), T + 90 * MIN, 30 * MIN) == ("connection",)


def test_a_connection_whose_lease_passed_keeps_nothing_alive() -> None:
    ghost = connected(T + 2 * MIN)
    assert rules.live_connections(ghost, T + 3 * MIN) == ()
    assert rules.idle(ghost, T + 31 * MIN, 30 * MIN)


def test_work_within_the_timeout_keeps_the_session_and_is_named() -> None:
    busy = RUNNING.model_copy(update={"last_work": T + 20 * MIN, "busy_with": ("kernel busy",)})
    assert not rules.idle(busy, T + 49 * MIN, 30 * MIN)
    assert rules.keeping_alive(busy, T + 49 * MIN, 30 * MIN) == ("kernel busy",)
    assert rules.idle(busy, T + 50 * MIN, 30 * MIN)
    assert rules.keeping_alive(busy, T + 50 * MIN, 30 * MIN) == ()


def test_connection_activity_counts_from_its_last_renewal() -> None:
    renewed = RUNNING.model_copy(update={"last_activity": T + 10 * MIN})
    assert not rules.idle(renewed, T + 39 * MIN, 30 * MIN)
    assert rules.idle(renewed, T + 40 * MIN, 30 * MIN)


@pytest.mark.parametrize(("own", "default", "wanted"), [
    (None, 30 * MIN, 30 * MIN), (None, None, None), (5.0, 30 * MIN, 5 * MIN), (0.0, 30 * MIN, None),
    (0.05, None, timedelta(seconds=3)),
])
def test_the_studio_s_timeout_wins_and_zero_means_never(own: float | None, default: timedelta | None,
                                                        wanted: timedelta | None) -> None:
    state = RUNNING.model_copy(update={"configuration": StudioConfiguration(idle_timeout_minutes=own)})
    assert rules.idle_timeout(state, default) == wanted


def test_a_negative_idle_timeout_is_refused() -> None:
    with pytest.raises(InvalidInput, match="idleTimeoutMinutes"):
        rules.validate_configuration(StudioConfiguration(idle_timeout_minutes=-1))


def test_work_is_recorded_only_while_running_and_only_when_there_is_some() -> None:
    work = RecordWork(session_id="s1", now=T, actor="lifecycle", run=1, work=("cpu",))
    [busy] = reports.work(work, RUNNING)
    assert busy.work == ("cpu",)  # type: ignore[attr-defined]
    assert reports.work(work, RUNNING.model_copy(update={"status": StudioStatus.STOPPING})) == []
    assert reports.work(work.model_copy(update={"work": ()}), RUNNING) == []


@pytest.mark.parametrize(("own", "workspace", "wanted"), [
    (None, 10.0, 10 * MIN), (None, 0.0, None), (5.0, 10.0, 5 * MIN), (0.0, 10.0, None), (None, None, 30 * MIN),
])
def test_the_studio_s_timeout_wins_over_its_workspace_s_which_wins_over_the_service_s(
        own: float | None, workspace: float | None, wanted: timedelta | None) -> None:
    state = RUNNING.model_copy(update={"configuration": StudioConfiguration(idle_timeout_minutes=own)})
    assert rules.idle_timeout(state, 30 * MIN, workspace) == wanted


def test_the_workspace_setting_is_recorded_reset_by_null_and_never_negative() -> None:
    from libs.testing.given_when_then import Aggregate
    from services.gateway.domain import studio_settings as settings

    spec = Aggregate.of(settings)

    def change(**changes: object) -> settings.ChangeSettings:
        return settings.ChangeSettings("1", "10", changes, T, "7")

    state = spec.given().when(change(idle_timeout_minutes=0.5)).then(
        spec.decide(settings.INITIAL, change(idle_timeout_minutes=0.5)))
    assert state.values.idle_timeout_minutes == 0.5
    [reset] = spec.decide(state, change(idle_timeout_minutes=None))
    assert reset.idle_timeout_minutes is None  # type: ignore[attr-defined]
    spec.given().when(change(idle_timeout_minutes=-1)).then_raises(InvalidInput, "idleTimeoutMinutes")
