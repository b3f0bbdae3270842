"""No secret in an event (DESIGN §2): the per-session proxy secret is derived by lifecycle and the gateway from one
key, and appears nowhere in ``es.events``, the ``read`` schema or the ``EVENTS`` stream; the proxy still gets in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
from fastapi import FastAPI

from libs.contracts.studio import StudioStatus
from libs.contracts.studio_state import State
from libs.eventstore import EventStore
from libs.platform.session_keys import load_or_create_key
from services.gateway.proxy.admission import derived_secrets
from services.gateway.proxy.http import proxy_router
from services.gateway.read import studios as queries
from services.gateway.read.projections import STUDIOS, run
from services.gateway.read.schema import GATEWAY
from tests.integration.lifecycle_harness import Lifecycle, create, running_lifecycle


@dataclass(frozen=True)
class User:
    user_id: str = "1"
    user_name: str | None = "alice"


async def _anyone(token: str) -> User | None:
    return User() if token == "tok" else None


async def _allowed(user: User, state: State) -> bool:
    return True


async def _until(check: Callable[[], Awaitable[bool]], what: str, tries: int = 600) -> None:
    """A bounded poll on the condition (600 x 50 ms at most)."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


@contextlib.asynccontextmanager
async def _gateway_read_model(database_url: str) -> AsyncIterator[EventStore]:
    """The gateway's store (its migrations applied) with its studios projection running."""
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    stop = asyncio.Event()
    task = asyncio.create_task(run(store, STUDIOS, stop))
    try:
        yield store
    finally:
        stop.set()
        await task
        await store.close()


async def _read_schema_text(store: EventStore) -> str:
    tables = await store.pool.fetch("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = 'read' AND table_type = 'BASE TABLE'")
    texts = [await store.pool.fetchval(f'SELECT coalesce(string_agg(to_jsonb(t)::text, E\'\\n\'), \'\') '
                                       f'FROM read."{r["table_name"]}" t') for r in tables]
    return "\n".join(texts)


async def _events_stream_text(lc: Lifecycle, nats_url: str, running: int) -> str:
    """Every message of the lifecycle's EVENTS stream (subject, headers, body), once ``running`` sessions'
    StudioSessionRunning events have been relayed."""
    assert lc.topology is not None
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = f"{lc.topology.events_prefix}.studio.StudioSessionRunning"

        async def relayed() -> bool:
            info = await js.stream_info(lc.topology.events_stream, subjects_filter=subject)  # type: ignore[union-attr]
            return sum((info.state.subjects or {}).values()) >= running

        await _until(relayed, "the running events reached EVENTS")
        info = await js.stream_info(lc.topology.events_stream)
        parts = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(lc.topology.events_stream, seq)
            parts.append(f"{msg.subject} {msg.headers} {msg.data.decode() if msg.data else ''}")
        return "\n".join(parts)
    finally:
        await nc.close()


async def test_no_secret_in_store_read_model_or_stream_and_the_proxy_still_works(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    async with running_lifecycle(database_url, nats_url, tmp_path) as lc, \
            _gateway_read_model(database_url) as gateway:
        cmds = [create(f"secret-{i}") for i in range(2)]
        for cmd in cmds:
            await lc.send(cmd)
        states = [await lc.wait_status(c.session_id, StudioStatus.RUNNING) for c in cmds]
        secrets = [lc.secret(s) for s in states]

        async def projected() -> bool:
            found = [await queries.studio(gateway.pool, c.session_id) for c in cmds]
            return all(s is not None and s.status is StudioStatus.RUNNING for s in found)

        await _until(projected, "the read model shows both studios running")
        events = "\n".join(f"{r['data']} {r['metadata']}" for r in await lc.store.pool.fetch(
            "SELECT data::text AS data, metadata::text AS metadata FROM es.events"))
        read_schema = await _read_schema_text(gateway)
        stream = await _events_stream_text(lc, nats_url, len(cmds))
        assert "StudioSessionRunning" in stream and cmds[0].session_id in read_schema  # we looked at the right data
        for secret in secrets:
            assert secret not in events
            assert secret not in read_schema
            assert secret not in stream

        # The gateway's proxy, with the secret derived from the shared key, still gets through to the tool.
        app = FastAPI()
        async with httpx.AsyncClient(trust_env=False, timeout=10) as upstream:
            secret_of = derived_secrets(load_or_create_key(lc.settings.session_key_file))
            app.include_router(proxy_router(lambda sid: queries.studio(gateway.pool, sid), _anyone, _allowed,
                                            lc, upstream, secret_of=secret_of))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
                for state in states:
                    r = await client.get(f"/connect/{state.session_id}/hello", headers={"Authorization": "Bearer tok"})
                    assert r.status_code == 200, r.text
                    assert r.json()["session"] == state.run_key  # the tool of that run answered


def test_the_first_service_creates_the_key_and_the_other_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "lifecycle" / "session-key"
    first = load_or_create_key(path)
    assert load_or_create_key(path) == first and len(first) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["session-key"]  # no temporary file left behind
