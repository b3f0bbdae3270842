"""The shared bounded poll: the first value the condition accepts, sync or async checks, and a timeout that says
what was last seen."""

from __future__ import annotations

import pytest

from libs.testing.waiting import wait_for


async def test_returns_the_first_value_the_condition_accepts() -> None:
    values = iter([None, 1, 2, 3])
    assert await wait_for(lambda: next(values), every=0) == 1
    assert await wait_for(lambda: next(values), every=0, until=lambda v: v >= 3) == 3


async def test_an_async_check_is_awaited() -> None:
    async def check() -> str:
        return "ready"

    assert await wait_for(check) == "ready"


async def test_a_condition_never_met_raises_with_the_last_value() -> None:
    with pytest.raises(TimeoutError, match=r"studio running not reached .* \(last seen: 'stopped'\)"):
        await wait_for(lambda: "stopped", within=0, until=lambda v: v == "running", what="studio running")
