"""The shared log producer's pure parts: the 64 KiB split, a run's numbering and quota, the spool file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from libs.logs.lines import MAX_LINE_BYTES, LogLine, split_message
from libs.logs.runlog import RunLog
from libs.logs.spool import Spool


class Collected:
    def __init__(self) -> None:
        self.lines: list[LogLine] = []

    def offer(self, line: LogLine) -> None:
        self.lines.append(line)


def test_a_short_line_is_one_piece_and_a_long_one_is_split_on_character_boundaries() -> None:
    assert split_message(b"hello") == [(0, "hello")]
    assert split_message(b"") == [(0, "")]
    text = "é" * 70_000  # 140,000 bytes: three pieces, none cutting a two-byte character
    pieces = split_message(text.encode())
    assert len(pieces) == 3 and "".join(p for _, p in pieces) == text
    assert all(len(p.encode()) <= MAX_LINE_BYTES for _, p in pieces)
    assert [o for o, _ in pieces] == [0, len(pieces[0][1].encode()), len((pieces[0][1] + pieces[1][1]).encode())]


def test_bytes_that_are_not_utf8_are_split_at_the_limit_and_never_dropped() -> None:
    raw = b"\x80" * (MAX_LINE_BYTES + 10)
    pieces = split_message(raw)
    assert [o for o, _ in pieces] == [0, MAX_LINE_BYTES]


def test_a_run_numbers_its_lines_and_splits_long_ones_under_consecutive_seqs() -> None:
    out = Collected()
    log = RunLog(out, "session", "s", 3, first_seq=0)
    log.write("a")
    log.write(b"x" * (MAX_LINE_BYTES + 1), "stderr")
    log.write("b")
    assert [(x.seq, x.stream) for x in out.lines] == [(0, "stdout"), (1, "stderr"), (2, "stderr"), (3, "stdout")]
    assert {(x.kind, x.id, x.run, x.source) for x in out.lines} == {("session", "s", 3, "user")}


def test_one_trailing_newline_is_the_lines_end_not_its_message() -> None:
    out = Collected()
    log = RunLog(out, "job", "j", 1, first_seq=0)
    for raw in (b"plain\n", b"windows\r\n", b"two\n\n", "text\n", b"none"):
        log.write(raw)
    assert [x.message for x in out.lines] == ["plain", "windows", "two\n", "text", "none"]


def test_stdout_and_stderr_of_one_run_are_numbered_apart_and_each_only_grows(tmp_path: Path) -> None:
    from libs.logs.tail import STDERR_SEQ, FileTail, stderr_path

    out, err = tmp_path / "s-1.log", stderr_path(tmp_path / "s-1.log")
    out.write_bytes(b"o1\no2\n")
    err.write_bytes(b"e1\n")
    got = Collected()
    log = RunLog(got, "session", "s", 1, first_seq=0, quota_bytes=12)
    stdout, stderr = FileTail(out, log), FileTail(err, log, stream="stderr")
    stderr.poll()
    stdout.poll()
    log.write("over the quota", "stdout")
    stderr.finish(final=False)
    stdout.finish("stopped")
    pairs = [(x.stream, x.seq, x.message) for x in got.lines]
    assert pairs[:3] == [("stderr", STDERR_SEQ, "e1"), ("stdout", 0, "o1"), ("stdout", 3, "o2")]
    assert got.lines[-1].final and err.name == "s-1.err"
    for stream in ("stdout", "stderr"):  # the quota's markers too: each stream's seq only grows
        seqs = [x.seq for x in got.lines if x.stream == stream]
        assert seqs == sorted(set(seqs)), (stream, pairs)


def test_a_tool_line_keeps_its_offset_as_seq() -> None:
    out = Collected()
    log = RunLog(out, "session", "s", 1, first_seq=0)
    log.write("first", seq=0)
    log.write("second", seq=6)
    assert [x.seq for x in out.lines] == [0, 6]


def test_past_the_quota_one_marker_then_counting_then_the_count_on_close() -> None:
    out = Collected()
    log = RunLog(out, "session", "s", 1, first_seq=0, quota_bytes=50)
    for i in range(10):
        log.write(f"line {i:02d} is twenty by")  # 20 bytes each
    log.close(final=True)
    messages = [x.message for x in out.lines]
    assert messages[:3] == [f"line {i:02d} is twenty by" for i in range(3)]
    assert "passed its quota of 50 bytes" in messages[3]
    assert messages[4:] == ["[log truncated: 7 lines (140 bytes) past the quota were not stored]"]
    assert out.lines[-1].final and [x.final for x in out.lines[:-1]] == [False] * 4
    assert sorted(x.seq for x in out.lines) == [x.seq for x in out.lines]


def test_a_clock_stepping_back_does_not_reorder_a_source() -> None:
    out = Collected()
    times = iter([datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC)])
    log = RunLog(out, "session", "s", 1, first_seq=0, now=lambda: next(times))
    log.write("a")
    log.write("b")
    assert out.lines[1].created_at == out.lines[0].created_at


def test_a_line_survives_its_payload() -> None:
    line = LogLine("job", "j1", 2, "system", 7, "stderr", "ünïcode \"quoted\"",
                   datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=5), final=True)
    assert LogLine.from_payload(line.payload()) == line
    assert line.msg_id() == "job.j1.2.system.7" and line.subject("p.logs") == "p.logs.job.j1"


def _line(i: int) -> LogLine:
    return LogLine("session", "s", 1, "user", i, "stdout", f"line {i}", datetime(2026, 1, 1, tzinfo=UTC))


def test_the_spool_keeps_order_is_bounded_and_empties_once_sent(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1000)
    written = 0
    while spool.append(_line(written), "studios.logs"):
        written += 1
    assert 0 < written < 20 and spool.size <= 1000  # full: the caller counts what it drops
    records, end = spool.read(3)
    assert [LogLine.from_payload(p).seq for _, _, p in records] == [0, 1, 2]
    assert records[0][:2] == ("studios.logs.session.s", "session.s.1.user.0")
    spool.advance(end)
    rest, end = spool.read(100)
    assert len(rest) == written - 3
    spool.advance(end)
    assert not spool.pending and spool.size == 0


def test_a_spool_left_by_a_dead_process_is_sent_again_without_its_torn_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(3):
        spool.append(_line(i), "studios.logs")
    spool.close()
    with (tmp_path / "spool").open("ab") as f:
        f.write(b"studios.logs.session.s session.s.1.user.3 {\"mess")  # died mid-write
    again = Spool(tmp_path / "spool")
    records, _ = again.read(100)
    assert [LogLine.from_payload(p).seq for _, _, p in records] == [0, 1, 2]


def test_a_followed_file_gives_lines_with_their_offsets_and_a_final_line(tmp_path: Path) -> None:
    from libs.logs.tail import FileTail

    out = Collected()
    path = tmp_path / "tool.log"
    path.write_bytes(b"one\r\ntw")
    tail = FileTail(path, RunLog(out, "session", "s", 1, first_seq=0))
    tail.poll()
    assert [(x.seq, x.message) for x in out.lines] == [(0, "one")] and tail.sent_to == 5
    with path.open("ab") as f:
        f.write(b"o\nthree")
    tail.poll()
    tail.finish("stopped")
    assert [(x.seq, x.message, x.final) for x in out.lines] == [
        (0, "one", False), (5, "two", False), (9, "three", False), (10, "stopped", True)]
    again = Collected()  # a reader starting again from the saved offset numbers the rest the same
    FileTail(path, RunLog(again, "session", "s", 1, first_seq=0), offset=5).poll()
    assert [(x.seq, x.message) for x in again.lines] == [(5, "two")]


def test_a_subjects_lines_are_packed_in_order_within_the_bounds_and_read_back_as_lines() -> None:
    from libs.logs.lines import PACK_BYTES, PACK_LINES, packs

    at = datetime(2026, 1, 1, tzinfo=UTC)
    a = [LogLine("session", "a", 1, "user", i, "stdout", f"a{i}", at) for i in range(PACK_LINES + 3)]
    b = [LogLine("session", "b", 1, "user", i, "stderr", "b" * 1000, at) for i in range(3)]
    records = [(x.subject(), x.payload()) for pair in zip(a, b, strict=False) for x in pair]
    records += [(x.subject(), x.payload()) for x in a[len(b):]]  # interleaved, as lines of two sessions come
    messages = packs(records)
    assert [(s, n) for s, _, n in messages] == [(a[0].subject(), PACK_LINES), (a[0].subject(), 3),
                                                (b[0].subject(), 3)]
    read = {s: [line for s2, m, _ in messages if s2 == s for line in LogLine.from_message(m)] for s, _, _ in messages}
    assert read[a[0].subject()] == a and read[b[0].subject()] == b
    assert LogLine.from_message(messages[1][1]) == a[PACK_LINES:]

    big = LogLine("session", "c", 1, "user", 0, "stdout", "x" * (PACK_BYTES // 2), at)
    two = packs([(big.subject(), big.payload())] * 3)  # byte-bound: two halves do not fit with the framing
    assert [n for _, _, n in two] == [1, 1, 1]
    assert two[0][1] == big.payload()  # one line alone goes as it is, not as a pack of one


def test_a_message_that_is_not_lines_is_refused() -> None:
    import pytest

    for data in (b"[1, 2]", b'"text"', b"{}", b"not json", b'[{"kind": "session"}]'):
        with pytest.raises((ValueError, KeyError, TypeError)):
            LogLine.from_message(data)


def test_a_lone_surrogate_in_a_system_line_does_not_stop_its_payload() -> None:
    line = LogLine("session", "s", 1, "system", 0, "stderr", "file \udc80 gone", datetime(2026, 1, 1, tzinfo=UTC))
    assert LogLine.from_payload(line.payload()).message == "file ? gone"
