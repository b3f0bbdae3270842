"""When a job's panel asks again: its status and its output arrive apart, so a finished job's panel waits for the
output's final line (the race behind a console test that once saw COMPLETE and never its output)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.gateway.console.jobs import PANEL_LINES, SETTLE, polling

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _job(status: str, ended: datetime | None = None) -> dict[str, object]:
    return {"status": status, "finished_at": ended.isoformat().replace("+00:00", "Z") if ended else None}


def test_a_moving_job_is_asked_again() -> None:
    assert polling(_job("RUNNING"), [], NOW)
    assert polling(_job("QUEUED"), [{"message": "x"}], NOW)


def test_a_finished_job_without_its_final_line_is_asked_again() -> None:
    assert polling(_job("COMPLETE", NOW - timedelta(seconds=1)), [], NOW)
    assert polling(_job("FAILED", NOW - timedelta(seconds=1)), [{"message": "half"}], NOW)


def test_the_final_line_ends_the_asking() -> None:
    lines = [{"message": "hello"}, {"message": "exit code 0", "final": True}]
    assert not polling(_job("COMPLETE", NOW - timedelta(seconds=1)), lines, NOW)


def test_a_full_page_or_a_long_wait_ends_it() -> None:
    full = [{"message": str(i)} for i in range(PANEL_LINES)]
    assert not polling(_job("COMPLETE", NOW - timedelta(seconds=1)), full, NOW)
    assert not polling(_job("CANCELED", NOW - SETTLE), [], NOW)  # a job canceled before it ran has no output


def test_a_finished_job_with_no_end_time_is_not_asked_again() -> None:
    assert not polling(_job("FAILED"), [], NOW)
