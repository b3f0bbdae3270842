"""Replicas share the data dir, but never a log spool: each replica spools into a file of its own, the same one
across the supervisor's restarts of it (so a killed replica's spooled lines are sent by its next run)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from libs.logs.lines import LogLine
from libs.logs.spool import Spool
from libs.platform.settings import PlatformSettings


def line(session: str) -> LogLine:
    return LogLine("session", session, 1, "user", 0, "stdout", f"hello from {session}", datetime.now(UTC))


def spool_of(instance: str | None, state_dir: Path) -> Path:
    return PlatformSettings(STUDIOS_INSTANCE=instance).private_path(state_dir / "log-spool")  # type: ignore[call-arg]


def test_two_replicas_spooling_at_once_keep_each_others_lines(tmp_path: Path) -> None:
    one, two = Spool(spool_of("lifecycle-1", tmp_path)), Spool(spool_of("lifecycle-2", tmp_path))
    one.append(line("aaaa0001"), "studios.logs")
    _, end = one.read(100)  # a send that fails (the bus is away): nothing advanced, the record is on disk
    two.append(line("bbbb0002"), "studios.logs")
    pending, _ = two.read(100)
    assert [s for s, _, _ in pending] == ["studios.logs.session.bbbb0002"]  # its own line, not replica 1's
    one.advance(end)  # replica 1's bus is back: it sent its line and empties its spool
    kept, _ = two.read(100)  # replica 2's line is still waiting (one shared file would have been truncated)
    assert [s for s, _, _ in kept] == ["studios.logs.session.bbbb0002"]


def test_a_replica_restarted_spools_where_it_did_and_a_lone_process_keeps_the_plain_name(tmp_path: Path) -> None:
    assert spool_of("builder-2", tmp_path) == spool_of("builder-2", tmp_path) != spool_of("builder-3", tmp_path)
    assert spool_of(None, tmp_path) == spool_of("builder-1", tmp_path) == tmp_path / "log-spool"
