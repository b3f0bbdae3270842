"""Command handlers against the in-memory event store: the whole glue (ids, name reservations, ``execute``) in
milliseconds, no PostgreSQL. The fake keeps the store's contract (``tests/integration/test_eventstore_contract.py``
runs it against both), so what holds here holds against the real store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.eventstore import InMemoryEventStore
from libs.eventstore.reservations import NameTaken
from services.gateway.handlers.identity import create_user
from services.gateway.handlers.resources import create_compute_env, delete_compute_env

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LOCAL = {"workDir": "/tmp"}


async def test_a_user_name_is_unique_whatever_its_case() -> None:
    store = InMemoryEventStore()
    uid, _ = await create_user(store, user_name="Alice", email="alice@x.org", actor="system", now=NOW)
    with pytest.raises(NameTaken):
        await create_user(store, user_name="ALICE", email="other@x.org", actor="system", now=NOW)
    with pytest.raises(NameTaken):
        await create_user(store, user_name="bob", email="Alice@X.org", actor="system", now=NOW)
    assert [e.stream_name for e in await store.read_all()] == [f"user-{uid}", "username-alice", "useremail-alice@x.org"]


async def test_a_deleted_compute_env_gives_its_name_back_in_any_case() -> None:
    store = InMemoryEventStore()
    first, _ = await create_compute_env(store, workspace_id=1, name="MyEnv", platform="local-platform", config=LOCAL,
                                        actor_is_admin=True, actor="7", now=NOW)
    with pytest.raises(NameTaken):
        await create_compute_env(store, workspace_id=1, name="myenv", platform="local-platform", config=LOCAL,
                                 actor_is_admin=True, actor="7", now=NOW)
    await delete_compute_env(store, compute_env_id=first, workspace_id=1, name="MyEnv", actor="7", now=NOW)
    second, _ = await create_compute_env(store, workspace_id=1, name="MYENV", platform="local-platform",
                                         config=LOCAL, actor_is_admin=True, actor="7", now=NOW)
    assert second != first
    assert [e.event_type for e in await store.read_stream("computeenvname-1:myenv")] == [
        "NameReserved", "NameReleased", "NameReserved"]
