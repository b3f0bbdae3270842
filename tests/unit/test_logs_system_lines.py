"""What lifecycle says in a session's log for each studio event (``services.lifecycle.sessions.logs``)."""

from __future__ import annotations

from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import INITIAL
from services.lifecycle.sessions.logs import final_message, system_line


def test_progress_failures_and_stops_become_system_lines() -> None:
    assert system_line("StudioStartRequested", {"run": 3}) == ("Starting run 3", "stdout")
    assert system_line("StudioProgressRecorded", {"step": "Cloning", "status": "succeeded", "detail": "abc123",
                                                  "warnings": ["shallow"]}) == (
        "Cloning: succeeded: abc123 (warning: shallow)", "stdout")
    assert system_line("StudioStartFailed", {"message": "no such image", "failed_step": "Launching"}) == (
        "Start failed at 'Launching': no such image", "stderr")
    assert system_line("StudioBuildFailed", {"message": "pip failed"}) == ("Build failed: pip failed", "stderr")
    assert system_line("StudioStopRequested", {"stop_reason": "USER_REQUEST"}) == (
        "Stop requested (USER_REQUEST)", "stdout")
    assert system_line("StudioLabelsChanged", {}) is None


def test_the_final_line_says_how_the_run_ended() -> None:
    errored = INITIAL.model_copy(update={"status": StudioStatus.ERRORED, "status_message": "exit code 3"})
    assert final_message(errored) == "Session errored: exit code 3"
    assert final_message(INITIAL.model_copy(update={"status": StudioStatus.STOPPED})) == "Session stopped"
