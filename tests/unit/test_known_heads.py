"""The stream positions a store has seen committed (``libs/eventstore/heads.py``)."""

from __future__ import annotations

from libs.eventstore.heads import KnownHeads


def test_a_head_covers_every_position_up_to_it_and_none_past_it() -> None:
    heads = KnownHeads()
    assert not heads.covers("thing-1", 0)
    heads.saw("thing-1", 4)
    assert [heads.covers("thing-1", v) for v in (0, 3, 4, 5)] == [True, True, True, False]
    assert not heads.covers("thing-2", 0)


def test_a_lower_position_seen_later_keeps_the_head() -> None:
    """A slow reader's page may come back after a newer append's result: heads only move forward."""
    heads = KnownHeads()
    heads.saw("thing-1", 7)
    heads.saw("thing-1", 2)
    assert heads.covers("thing-1", 7)


def test_the_least_recently_used_stream_goes_first_when_full() -> None:
    heads = KnownHeads(size=2)
    heads.saw("thing-1", 0)
    heads.saw("thing-2", 0)
    assert heads.covers("thing-1", 0)
    heads.saw("thing-1", 1)  # thing-1 used again: thing-2 is the older
    heads.saw("thing-3", 0)
    assert len(heads) == 2
    assert heads.covers("thing-1", 1) and heads.covers("thing-3", 0)
    assert not heads.covers("thing-2", 0)


def test_forget_drops_every_head() -> None:
    heads = KnownHeads()
    heads.saw("thing-1", 3)
    heads.forget()
    assert len(heads) == 0
    assert not heads.covers("thing-1", 0)
