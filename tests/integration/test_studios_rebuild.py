"""Blue/green rebuild of the studios projection while the API keeps serving."""

from __future__ import annotations

from services.gateway.read.projections.rebuild import rebuild, status
from tests.integration.studios_api_helpers import CE, WS, Api


async def _create(api: Api, name: str) -> str:
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false",
                              json={"name": name, "computeEnvId": CE}, headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    return str(r.json()["studio"]["sessionId"])


async def _rows(api: Api) -> list[tuple[str, str, str]]:
    rows = await api.store.pool.fetch("SELECT session_id, name, status FROM read.studios ORDER BY session_id")
    return [tuple(r) for r in rows]


async def test_rebuild_swaps_to_an_identical_new_version(api: Api) -> None:
    for name in ("one", "two"):
        await _create(api, name)
    before = await _rows(api)
    st = await rebuild(api.store, "studios")
    assert (st.version, st.building, st.lag) == (2, None, 0)
    assert await _rows(api) == before
    sid = await _create(api, "three")  # the running projection follows the new version
    r = await api.client.get(f"/studios/{sid}", headers=api.auth("alice"))
    assert r.status_code == 200 and r.json()["name"] == "three"
    again = await rebuild(api.store, "studios")
    assert again.version == 3
    assert not await api.store.pool.fetchval("SELECT to_regclass('read.studios_v1') IS NOT NULL")
    [now] = await status(api.store, "studios")
    assert now.name == "studios" and now.checkpoint == "studios_v3" and now.state == "ok"
