"""The queue policy and cron slots, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.lifecycle.jobs.cron import due_slot, run_id
from services.lifecycle.jobs.queue import Waiting, pick

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def w(job_id: str, priority: int, seq: int, cluster: str = "c", waited: float = 0.0,
      start_after: datetime | None = None) -> Waiting:
    return Waiting(job_id, cluster, priority, seq, T0 - timedelta(seconds=waited), start_after)


def test_priority_first_then_fifo_within_a_priority() -> None:
    jobs = [w("a", 5, 1), w("b", 0, 2), w("c", 5, 0), w("d", 0, 3)]
    assert pick(jobs, {}, {"c": 4}, T0) == ["b", "d", "c", "a"]


def test_max_workers_per_cluster_limits_what_is_dispatched() -> None:
    jobs = [w("a", 1, 1), w("b", 1, 2), w("x", 1, 3, cluster="other")]
    assert pick(jobs, {"c": 1}, {"c": 2, "other": 1}, T0) == ["a", "x"]
    assert pick(jobs, {"c": 2, "other": 1}, {"c": 2, "other": 1}, T0) == []


def test_aging_lifts_a_long_waiting_job_above_newer_urgent_ones() -> None:
    jobs = [w("old", 5, 1, waited=3000), w("urgent", 0, 2)]
    assert pick(jobs, {}, {"c": 1}, T0, aging=600) == ["old"]
    assert pick(jobs, {}, {"c": 1}, T0, aging=6000) == ["urgent"]


def test_start_after_in_the_future_is_not_due() -> None:
    jobs = [w("later", 0, 1, start_after=T0 + timedelta(seconds=1)), w("now", 5, 2)]
    assert pick(jobs, {}, {"c": 2}, T0) == ["now"]
    assert pick(jobs, {}, {"c": 2}, T0 + timedelta(seconds=1)) == ["later", "now"]


def test_cron_fires_the_latest_due_slot_once_and_a_missed_run_once() -> None:
    anchor = T0 - timedelta(minutes=10)
    assert due_slot("* * * * *", anchor, None, T0 + timedelta(seconds=30)) == T0
    assert due_slot("* * * * *", anchor, T0, T0 + timedelta(seconds=59)) is None
    # down for five minutes: one run, for the latest slot
    assert due_slot("* * * * *", anchor, T0, T0 + timedelta(minutes=5, seconds=3)) == T0 + timedelta(minutes=5)


def test_cron_never_fires_a_slot_from_before_the_template() -> None:
    assert due_slot("0 * * * *", T0 + timedelta(minutes=1), None, T0 + timedelta(minutes=2)) is None


def test_a_slots_run_id_is_stable_and_distinct_per_slot() -> None:
    assert run_id("t", T0) == run_id("t", T0) != run_id("t", T0 + timedelta(minutes=1)) != run_id("u", T0)
