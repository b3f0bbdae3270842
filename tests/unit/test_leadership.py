"""The relay's lease, with an injected clock and a fake lock connection: when it is trusted without a round trip,
when it is renewed, and what ends it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from libs.bus.leadership import Leadership, LostLeadership


class FakeLockConnection:
    """Answers the leader-lock and epoch queries like PostgreSQL would, with ``epoch`` as the row's value."""

    def __init__(self, epoch: int = 1, dead: bool = False) -> None:
        self.epoch, self.dead, self.closed, self.queries = epoch, dead, False, 0

    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        self.queries += 1
        if self.dead:
            raise asyncpg.ConnectionDoesNotExistError("the server ended the session")
        if "UPDATE" in query:
            return self.epoch
        return True if "advisory" in query else self.epoch

    async def execute(self, query: str, *args: Any) -> str:
        return "INSERT 0 0"

    async def close(self) -> None:
        self.closed = True

    def terminate(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def leader(conn: FakeLockConnection, clock: Clock, ttl: float = 30.0) -> Leadership:
    async def connect(settings: dict[str, str]) -> Any:
        assert settings["idle_session_timeout"] == str(int(ttl * 1000)) and settings["statement_timeout"] == "0"
        return conn

    lead = Leadership(connect, "relay:EVENTS", ttl, clock=clock)
    assert await lead.try_acquire() and lead.epoch == conn.epoch
    return lead


async def test_the_lease_is_trusted_for_half_its_ttl_and_renewed_after_a_third() -> None:
    conn, clock = FakeLockConnection(), Clock()
    lead = await leader(conn, clock)
    asked = conn.queries
    clock.now += 9.9
    await lead.keep()
    assert conn.queries == asked and lead.valid()  # no round trip yet
    clock.now += 0.2  # past a third of 30 s
    await lead.keep()
    assert conn.queries == asked + 1 and lead.renewals == 1
    clock.now += 15.0  # half the ttl since that renewal: no longer trusted without asking
    assert not lead.valid()


async def test_a_superseded_epoch_ends_the_leadership() -> None:
    conn, clock = FakeLockConnection(epoch=1), Clock()
    lead = await leader(conn, clock)
    conn.epoch = 2  # another relay claimed the next epoch
    with pytest.raises(LostLeadership, match="superseded"):
        await lead.confirm()
    assert not lead.leading and conn.closed


async def test_a_connection_the_server_ended_ends_the_leadership() -> None:
    conn, clock = FakeLockConnection(), Clock()
    lead = await leader(conn, clock)
    conn.dead = True
    with pytest.raises(LostLeadership, match="lost the leader connection"):
        await lead.confirm()
    assert not lead.leading and not lead.valid()


def test_a_lease_under_a_second_is_refused() -> None:
    with pytest.raises(ValueError):
        Leadership(lambda settings: None, "relay:EVENTS", ttl=0.5)  # type: ignore[arg-type,return-value]
