"""Connections under a lease, in the studio aggregate: an open takes a lease, a renewal extends it (and opens a
connection whose open was lost), a close ends it; renewals are activity but not a change of the studio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from libs.contracts.errors import InvalidInput
from libs.contracts.events import Event
from libs.contracts.studio import (
    StudioConnectionActive,
    StudioConnectionClosed,
    StudioConnectionOpened,
    StudioSessionRunning,
    StudioTemplate,
)
from libs.contracts.studio_commands import CreateStudio, RecordConnection, StartStudio
from libs.testing.given_when_then import Aggregate
from services.lifecycle.studio import aggregate as studio

spec = Aggregate.of(studio)
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SID = "s1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def common(seconds: float, actor: str = "u2", reason: str | None = None) -> dict[str, Any]:
    return {"session_id": SID, "at": at(seconds), "actor": actor, "reason": reason}


def _running() -> list[Event]:
    create = CreateStudio(session_id=SID, now=at(0), actor="u1", workspace_id="w", user_id="u1", studio_name="n",
                          compute_env_id="ce", template=StudioTemplate(repository="studios/http-echo:1",
                                                                       tool="http-echo"))
    events = list(studio.decide(studio.INITIAL, create))
    events += studio.decide(spec.fold(events), StartStudio(session_id=SID, now=at(1), actor="u1"))
    return [*events, StudioSessionRunning(**common(2, "u1"), run=1, handle={}, url="http://127.0.0.1:1")]


RUNNING = _running()


def record(seconds: float, conn: str = "c1", *, connected: bool = True, active: bool = False,
           lease: float | None = 90) -> RecordConnection:
    return RecordConnection(session_id=SID, now=at(seconds), actor="u2", user_id="u2", user_name="Ada",
                            connection_id=conn, connected=connected, active=active,
                            lease_seconds=lease if connected else None)


OPENED = StudioConnectionOpened(**common(10), run=1, user_id="u2", user_name="Ada", connection_id="c1",
                                lease_until=at(100))


def test_an_open_takes_a_lease_and_is_activity() -> None:
    state = spec.given(RUNNING).when(record(10)).then(OPENED)
    [conn] = state.active_connections
    assert conn.lease_until == at(100) and state.last_activity == at(10)


def test_a_renewal_extends_the_lease_without_changing_the_studio() -> None:
    state = spec.given(RUNNING, OPENED).when(record(40, active=True)).then(
        StudioConnectionActive(**common(40), run=1, user_id="u2", connection_id="c1", lease_until=at(130)))
    [conn] = state.active_connections
    assert (conn.lease_until, conn.last_active, state.last_activity) == (at(130), at(40), at(40))
    assert state.updated_at == at(10)  # Seqera's lastUpdated is not moved by renewals every 30 s


def test_a_renewal_of_a_connection_whose_open_was_lost_opens_it() -> None:
    spec.given(RUNNING).when(record(40, active=True)).then(
        StudioConnectionOpened(**common(40), run=1, user_id="u2", user_name="Ada", connection_id="c1",
                               lease_until=at(130)))


def test_an_open_sent_again_records_nothing_and_a_close_ends_the_connection() -> None:
    spec.given(RUNNING, OPENED).when(record(20)).then_nothing()
    state = spec.given(RUNNING, OPENED).when(record(50, connected=False)).then(
        StudioConnectionClosed(**common(50), run=1, user_id="u2", connection_id="c1"))
    assert state.active_connections == () and state.last_activity == at(50)


def test_an_expired_close_carries_its_reason_and_a_second_close_records_nothing() -> None:
    expire = record(200, connected=False).model_copy(update={"reason": "lease expired", "actor": "gateway"})
    closed = spec.given(RUNNING, OPENED).when(expire).then(
        StudioConnectionClosed(**common(200, "gateway", "lease expired"), run=1, user_id="u2", connection_id="c1"))
    assert closed.active_connections == ()
    spec.given(RUNNING, OPENED, StudioConnectionClosed(**common(200), run=1, user_id="u2", connection_id="c1")) \
        .when(expire).then_nothing()


def test_a_user_s_lease_is_the_latest_of_their_connections() -> None:
    second = StudioConnectionOpened(**common(20), run=1, user_id="u2", connection_id="c2", lease_until=at(50))
    [conn] = spec.fold([*RUNNING, OPENED, second]).active_connections
    assert conn.connection_ids == ("c1", "c2") and conn.lease_until == at(100) and conn.user_name == "Ada"


def test_a_lease_must_be_positive() -> None:
    spec.given(RUNNING).when(record(10, lease=0)).then_raises(InvalidInput, "lease")
