"""Tokens, roles and private studios through the gateway; tools answer only the proxy."""

from __future__ import annotations

import secrets

import httpx

from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio

WS = {"workspaceId": 1}
ECHO = {"computeEnvId": "local", "dataStudioToolUrl": "studios/http-echo:1"}


def _user(c: httpx.Client, role: str | None) -> str:
    """A new user (a participant of the default workspace with ``role``, if given) and a token of theirs."""
    name = f"u{secrets.token_hex(3)}"
    r = c.post("/users", json={"userName": name, "email": f"{name}@example.org"})
    assert r.status_code == 200, r.text
    uid = r.json()["user"]["id"]
    if role:
        r = c.put("/orgs/1/workspaces/1/participants/add", json={"userNameOrEmail": name, "role": role})
        assert r.status_code == 200, r.text
    r = c.post(f"/users/{uid}/tokens", json={"name": "t"})
    assert r.status_code == 200, r.text
    return str(r.json()["accessKey"])


def test_roles_private_studios_and_tokens(system: System) -> None:
    with system.client() as admin:
        viewer = _user(admin, "view")
        outsider = _user(admin, None)
        r = admin.post("/studios", params={**WS, "autoStart": "false"},
                       json={**ECHO, "name": "private-one", "isPrivate": True})
        assert r.status_code == 200, r.text
        private_id = r.json()["studio"]["sessionId"]
        r = admin.post("/studios", params={**WS, "autoStart": "false"}, json={**ECHO, "name": "shared-one"})
        shared_id = r.json()["studio"]["sessionId"]

    before = _event_count(system)
    with system.client(viewer) as v:
        assert v.get(f"/studios/{shared_id}", params=WS).status_code == 200
        assert v.get(f"/studios/{private_id}", params=WS).status_code == 404
        assert v.put(f"/studios/{shared_id}/start", params=WS).status_code == 403
        assert v.post("/studios", params=WS, json={**ECHO, "name": "nope"}).status_code == 403
        listed = [s["sessionId"] for s in v.get("/studios", params=WS).json()["studios"]]
        assert shared_id in listed and private_id not in listed
    with system.client(outsider) as o:
        assert o.get(f"/studios/{shared_id}", params=WS).status_code in (403, 404)
    with system.client("not-a-token") as anon:
        assert anon.get("/studios", params=WS).status_code == 401
    with httpx.Client(base_url=system.url) as nobody:
        assert nobody.get("/studios", params=WS).status_code == 401
        assert nobody.put(f"/studios/{shared_id}/start", params=WS).status_code == 401
    assert _event_count(system) == before, "a refused request changed the store"


def _event_count(system: System) -> int:
    import asyncio

    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(system.database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM es.events"))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_tool_answers_only_through_the_proxy(system: System) -> None:
    with system.client() as c:
        r = c.post("/studios", params=WS, json={**ECHO, "name": "direct-access"})
        sid = r.json()["studio"]["sessionId"]
        wait_studio(c, sid, status_is("running"))
        # The tool's own port is on loopback but demands the session secret the proxy adds.
        import asyncio

        from libs.contracts.studio import stream_name
        from libs.contracts.studio_state import INITIAL, evolve
        from libs.eventstore import EventStore, load

        async def handle() -> dict[str, object]:
            store = await EventStore.connect(system.database_url)
            try:
                state = (await load(store, stream_name(sid), evolve, INITIAL))[0]
                return dict(state.handle or {})
            finally:
                await store.close()

        h = asyncio.run(handle())
        assert h["host"] == "127.0.0.1"
        direct = httpx.get(f"http://{h['host']}:{h['port']}/connect/{sid}/", timeout=5)
        assert direct.status_code == 403
        assert c.get(f"/connect/{sid}/").status_code == 200
        dto = c.get(f"/studios/{sid}", params=WS).json()
        assert "secret" not in str(dto)
        c.put(f"/studios/{sid}/stop", params=WS)
        wait_studio(c, sid, status_is("stopped"))
