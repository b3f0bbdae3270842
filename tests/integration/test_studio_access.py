"""The one studio policy on real read models, as the API and the proxy apply it: a private studio is seen (and
stopped) by its workspace's owner but connected to only by its creator; others do not see it at all."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts.errors import Forbidden, NotFound
from libs.contracts.studio_state import State
from services.gateway.access import auth
from services.gateway.proxy.wiring import connect_permission
from services.gateway.read import studios as queries
from tests.integration.studios_api_helpers import CE, WS, Api


async def _studio(api: Api, owner: str, **extra: Any) -> State:
    r = await api.client.post(f"/studios?workspaceId={WS}&autoStart=false", headers=api.auth(owner),
                              json={"name": f"s-{owner}-{len(extra)}", "computeEnvId": CE, **extra})
    assert r.status_code == 200, r.text
    state = await queries.studio(api.store.pool, r.json()["studio"]["sessionId"])
    assert state is not None
    return state


async def _connect(api: Api, user: str, state: State) -> bool:
    principal = await auth.authenticate(api.store.pool, user)
    return await connect_permission(api.store.pool)(principal, state)


async def test_private_studio_api_and_proxy_agree(api: Api) -> None:
    private = await _studio(api, "bob", isPrivate=True)  # bob: launch; alice: workspace owner; dave: launch
    url = f"/studios/{private.session_id}?workspaceId={WS}"
    assert (await api.client.get(url, headers=api.auth("bob"))).status_code == 200
    assert (await api.client.get(url, headers=api.auth("alice"))).status_code == 200
    assert (await api.client.get(url, headers=api.auth("dave"))).status_code == 404
    assert await _connect(api, "bob", private)
    with pytest.raises(Forbidden, match="private"):
        await _connect(api, "alice", private)
    with pytest.raises(NotFound):
        await _connect(api, "dave", private)


async def test_a_viewer_sees_a_public_studio_but_may_not_connect(api: Api) -> None:
    public = await _studio(api, "bob")
    r = await api.client.get(f"/studios/{public.session_id}?workspaceId={WS}", headers=api.auth("carol"))
    assert r.status_code == 200
    assert await _connect(api, "dave", public)
    with pytest.raises(Forbidden, match="studio:connect"):
        await _connect(api, "carol", public)


async def test_lists_show_a_private_studio_to_exactly_those_who_see_it(api: Api) -> None:
    private = await _studio(api, "bob", isPrivate=True)
    for user, shown in (("bob", True), ("alice", True), ("dave", False), ("carol", False)):
        r = await api.client.get(f"/studios?workspaceId={WS}", headers=api.auth(user))
        assert r.status_code == 200
        ids = {s["sessionId"] for s in r.json()["studios"]}
        assert (private.session_id in ids) is shown, user
