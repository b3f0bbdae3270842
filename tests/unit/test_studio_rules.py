"""The studio rules that glue used to hold: when a running session is idle, and when a command takes or gives up
the studio's name reservation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.contracts.studio import ActiveConnection, StudioDeleted, StudioStatus, StudioUpdated
from libs.contracts.studio_state import State
from services.lifecycle.studio import rules

T = datetime(2025, 1, 1, tzinfo=UTC)
RUNNING = State(exists=True, session_id="s1", workspace_id="1", name="lab", status=StudioStatus.RUNNING,
                updated_at=T)
HOUR = timedelta(hours=1)


def test_idle_once_nothing_happened_for_the_timeout() -> None:
    assert not rules.idle(RUNNING, T + HOUR - timedelta(seconds=1), HOUR)
    assert rules.idle(RUNNING, T + HOUR, HOUR)


def test_never_idle_while_someone_is_connected() -> None:
    connected = RUNNING.model_copy(update={"active_connections": (
        ActiveConnection(user_id="7", last_active=T, connection_ids=("c1",)),)})
    assert not rules.idle(connected, T + 10 * HOUR, HOUR)


def test_never_idle_without_a_timeout_or_a_last_change() -> None:
    assert not rules.idle(RUNNING, T + 10 * HOUR, None)
    assert not rules.idle(RUNNING.model_copy(update={"updated_at": None}), T + 10 * HOUR, HOUR)


def test_a_new_name_is_taken_but_a_change_of_case_keeps_the_reservation() -> None:
    assert rules.takes_new_name(RUNNING, "other")
    assert not rules.takes_new_name(RUNNING, "LAB")
    assert not rules.takes_new_name(RUNNING, None)
    assert not rules.takes_new_name(State(), "other")  # no studio yet: the create reserves, not the update


def test_a_rename_and_a_delete_give_the_name_up() -> None:
    renamed = StudioUpdated(session_id="s1", at=T, actor="7", name="other", previous_name="lab")
    described = StudioUpdated(session_id="s1", at=T, actor="7", description="new words")
    deleted = StudioDeleted(session_id="s1", at=T, actor="7", workspace_id="1", name="lab")
    assert rules.renamed([described, renamed]) and not rules.renamed([described])
    assert rules.deleted([deleted]) and not rules.deleted([renamed])
