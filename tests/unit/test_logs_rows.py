"""The ingestor's decode of a ``LOGS`` message: one line, a pack of them, and what is not a line."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.logs.lines import LogLine, pack
from services.logs.rows import decode

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _line(seq: int, message: str = "hi") -> LogLine:
    return LogLine("session", "s", 2, "user", seq, "stdout", message, AT)


def test_one_line_and_a_pack_are_rows_sharing_the_messages_stream_sequence() -> None:
    assert decode(_line(0).payload(), 7) == ([("session", "s", 2, AT, "user", 0, "stdout", "hi", False, 7)], 0)
    rows, bad = decode(pack([_line(i).payload() for i in range(3)]), 8)
    assert bad == 0 and [(r[5], r[9]) for r in rows] == [(0, 8), (1, 8), (2, 8)]


def test_items_that_are_not_lines_are_counted_and_the_rest_kept() -> None:
    good = _line(1, "nul\x00inside").payload()
    rows, bad = decode(b"[" + good + b',{"kind": "nope"}, 3]', 9)
    assert bad == 2 and [r[7] for r in rows] == ["nul\ufffdinside"]
    assert decode(b"{not json", 10) == ([], 1)
    assert decode(b'{"kind": "session"}', 11) == ([], 1)
