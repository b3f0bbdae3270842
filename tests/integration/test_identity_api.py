"""The identity/resource API over real HTTP (ASGI), a real store and the identity projection running behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from libs.eventstore import EventStore
from libs.testing.seqera_schema import checked_client_hooks
from libs.testing.waiting import wait_for
from services.gateway.api.seqera.common import install_error_handlers
from services.gateway.api.seqera.users import router
from services.gateway.bootstrap import ensure_defaults
from services.gateway.read.projections.base import wait_for_position
from services.gateway.read.projections.identity import IDENTITY, identity_subscription
from services.gateway.read.schema import GATEWAY

ADMIN = "admin-token-for-tests"


@dataclass
class Api:
    client: httpx.AsyncClient
    store: EventStore

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, url: str, token: str = ADMIN, **kw: Any) -> httpx.Response:
        return await self.client.request(method, url, headers=self.auth(token), **kw)

    async def events(self) -> int:
        return int(await self.store.pool.fetchval("SELECT count(*) FROM es.events"))

    async def user_with_token(self, name: str) -> tuple[int, str]:
        r = await self.call("POST", "/users", json={"userName": name, "email": f"{name}@example.org"})
        assert r.status_code == 200, r.text
        uid = r.json()["user"]["id"]
        r = await self.call("POST", f"/users/{uid}/tokens", json={"name": "t"})
        assert r.status_code == 200, r.text
        return uid, r.json()["accessKey"]


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    store = await EventStore.connect(database_url, sources=[GATEWAY])
    position = await ensure_defaults(store, ADMIN, work_dir=str(tmp_path / "work"))
    stop = asyncio.Event()
    task = asyncio.create_task(identity_subscription(store, poll_max=0.05).run(stop))
    assert await wait_for_position(store.pool, IDENTITY, position)
    app = FastAPI()
    app.state.store = store
    install_error_handlers(app)
    app.include_router(router)
    # Every response to a path in Seqera's specs is checked against its schema (libs.testing.seqera_schema).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw",
                                 event_hooks=checked_client_hooks()) as client:
        yield Api(client, store)
    stop.set()
    await task
    await store.close()


async def test_bootstrap_is_idempotent_even_when_two_gateways_start_at_once(api: Api) -> None:
    before = await api.events()
    await asyncio.gather(ensure_defaults(api.store, ADMIN), ensure_defaults(api.store, ADMIN))
    assert await api.events() == before
    info = (await api.call("GET", "/user-info")).json()
    assert info["user"]["userName"] == "admin" and info["defaultWorkspaceId"] == 1
    envs = (await api.call("GET", "/compute-envs", params={"workspaceId": 1})).json()["computeEnvs"]
    assert [(e["id"], e["name"], e["platform"], e["status"]) for e in envs] == [
        ("local", "local", "local-platform", "AVAILABLE")]
    ws = (await api.call("GET", "/orgs/1/workspaces")).json()["workspaces"]
    assert [w["name"] for w in ws] == ["default"]


async def test_a_new_admin_token_in_the_settings_replaces_the_old_one(api: Api) -> None:
    position = await ensure_defaults(api.store, "rotated-admin-token")
    assert await wait_for_position(api.store.pool, IDENTITY, position)
    assert (await api.call("GET", "/user-info")).status_code == 401
    assert (await api.call("GET", "/user-info", token="rotated-admin-token")).status_code == 200


async def test_a_user_outside_the_workspace_is_kept_out(api: Api) -> None:
    _, token = await api.user_with_token("ada")
    assert (await api.call("GET", "/user-info", token=token)).json()["user"]["userName"] == "ada"
    assert (await api.call("GET", "/orgs/1/workspaces/1", token=token)).status_code == 403
    assert (await api.call("GET", "/compute-envs/local", token=token)).status_code == 403
    assert (await api.call("GET", "/compute-envs", token=token, params={"workspaceId": 1})).status_code == 403
    assert (await api.call("GET", "/compute-envs", token=token, params={"workspaceId": 999})).status_code == 404
    assert (await api.call("GET", "/orgs/1/workspaces/999")).status_code == 404
    r = await api.call("POST", "/users", token=token, json={"userName": "eve", "email": "eve@example.org"})
    assert r.status_code == 403 and "administrator" in r.json()["message"]


async def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    _, token = await api.user_with_token("ada")
    r = await api.call("POST", "/tokens", token=token, json={"name": "laptop"})
    second = r.json()["accessKey"]
    dump = await api.store.pool.fetchval(
        "SELECT string_agg(t::text, ' ') FROM read.tokens t")
    events = await api.store.pool.fetchval("SELECT string_agg(data::text || metadata::text, ' ') FROM es.events")
    for plain in (ADMIN, token, second):
        assert plain not in dump and plain not in events
    names = [t["name"] for t in (await api.call("GET", "/tokens", token=token)).json()["tokens"]]
    assert names == ["t", "laptop"]


async def test_expired_and_revoked_tokens_are_refused(api: Api) -> None:
    _, token = await api.user_with_token("ada")
    expiry = datetime.now(UTC) + timedelta(seconds=3)  # long enough to be used once on a slow machine
    r = await api.call("POST", "/tokens", token=token, json={"name": "short", "expiry": expiry.isoformat()})
    short = r.json()["accessKey"]
    assert (await api.call("GET", "/user-info", token=short)).status_code == 200
    # The server's clock decides expiry (the query compares with now()): wait for the refusal, then for what it says.
    r = await wait_for(lambda: api.call("GET", "/user-info", token=short), every=0.1,
                       until=lambda r: r.status_code != 200, what="the short token refused")
    assert r.status_code == 401 and r.json()["message"]
    token_id = (await api.call("GET", "/tokens", token=token)).json()["tokens"][0]["id"]
    assert (await api.call("DELETE", f"/tokens/{token_id}", token=token)).status_code == 204
    assert (await api.call("GET", "/user-info", token=token)).status_code == 401
    assert (await api.client.get("/user-info")).status_code == 401
    assert (await api.call("GET", "/user-info", token="nonsense")).status_code == 401


async def test_a_view_participant_reads_but_does_not_create(api: Api) -> None:
    _, token = await api.user_with_token("ada")
    r = await api.call("PUT", "/orgs/1/workspaces/1/participants/add", json={"userNameOrEmail": "ada", "role": "view"})
    assert r.status_code == 200, r.text
    participant = r.json()["participant"]
    assert participant["wspRole"] == "view" and participant["type"] == "COLLABORATOR"
    assert (await api.call("GET", "/compute-envs", token=token, params={"workspaceId": 1})).status_code == 200
    assert (await api.call("GET", "/orgs/1/workspaces/1/participants", token=token)).json()["totalSize"] == 2
    label = {"name": "team", "value": "x", "resource": True}
    r = await api.call("POST", "/labels", token=token, params={"workspaceId": 1}, json=label)
    assert r.status_code == 403
    r = await api.call("PUT", f"/orgs/1/workspaces/1/participants/{participant['participantId']}/role",
                       json={"role": "maintain"})
    assert r.status_code == 204
    r = await api.call("POST", "/labels", token=token, params={"workspaceId": 1}, json=label)
    assert r.status_code == 200 and r.json()["name"] == "team"
    again = await api.call("POST", "/labels", token=token, params={"workspaceId": 1}, json=label)
    assert again.json()["id"] == r.json()["id"]  # Seqera's create-or-retrieve
    ce = {"computeEnv": {"name": "mine", "platform": "local-platform", "config": {"workDir": "/tmp"}}}
    r = await api.call("POST", "/compute-envs", token=token, params={"workspaceId": 1}, json=ce)
    assert r.status_code == 403


@pytest.mark.parametrize("method,url,body", [
    ("POST", "/users", {"userName": "a b", "email": "x@example.org"}),
    ("POST", "/users", {"userName": "bob", "email": "nope"}),
    ("POST", "/users", {"userName": 42, "email": "x@example.org"}),
    ("POST", "/users", "not json"),
    ("POST", "/tokens", {"name": "x", "expiry": "2001-01-01T00:00:00Z"}),
    ("POST", "/tokens", {"name": "x", "scopes": ["studio:fly"]}),
    ("POST", "/orgs", {"organization": {"name": "-bad-"}}),
    ("POST", "/orgs/1/workspaces", {"workspace": {"name": "w1", "visibility": "PUBLIC"}}),
    ("POST", "/compute-envs?workspaceId=1", {"computeEnv": {"name": "x", "platform": "aws-batch", "config": {}}}),
    ("POST", "/compute-envs?workspaceId=1",
     {"computeEnv": {"name": "x", "platform": "local-platform", "config": {"workdir": "/w"}}}),
    ("POST", "/compute-envs?workspaceId=abc", {"computeEnv": {}}),
    ("POST", "/compute-envs", {"computeEnv": {"name": "x", "platform": "local-platform", "config": {}}}),
    ("POST", "/data-links?workspaceId=1", {"name": "d", "resourceRef": "ftp://host/x"}),
    ("POST", "/labels?workspaceId=1", {"name": "env", "resource": True}),
    ("PUT", "/orgs/1/workspaces/1/participants/add", {}),
    ("PUT", "/orgs/1/workspaces/1/participants/1/role", {"role": "guru"}),
    ("GET", "/orgs/99999999999999999999", None),
])
async def test_bad_input_is_a_400_and_stores_nothing(api: Api, method: str, url: str, body: Any) -> None:
    before = await api.events()
    kw: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    r = await api.call(method, url, **kw)
    assert r.status_code == 400, r.text
    assert r.json()["message"]
    assert await api.events() == before


async def test_taken_names_are_a_409(api: Api) -> None:
    await api.user_with_token("ada")
    before = await api.events()
    r = await api.call("POST", "/users", json={"userName": "ada", "email": "other@example.org"})
    assert r.status_code == 409 and "taken" in r.json()["message"]
    ce = {"computeEnv": {"name": "local", "platform": "local-platform", "config": {"workDir": "/w"}}}
    assert (await api.call("POST", "/compute-envs", params={"workspaceId": 1}, json=ce)).status_code == 409
    assert await api.events() == before


async def test_a_deleted_compute_env_gives_its_name_back(api: Api) -> None:
    assert (await api.call("DELETE", "/compute-envs/local")).status_code == 204
    assert (await api.call("GET", "/compute-envs/local")).status_code == 404
    ce = {"computeEnv": {"name": "local", "platform": "k8s-platform", "config": {"workDir": "/w", "namespace": "s"}}}
    r = await api.call("POST", "/compute-envs", params={"workspaceId": 1}, json=ce)
    assert r.status_code == 200, r.text
    got = (await api.call("GET", f"/compute-envs/{r.json()['computeEnvId']}")).json()["computeEnv"]
    assert got["config"]["namespace"] == "s" and got["workspaceId"] == 1


async def test_orgs_workspaces_and_members(api: Api) -> None:
    _, token = await api.user_with_token("ada")
    r = await api.call("POST", "/orgs", token=token, json={"organization": {"name": "acme", "fullName": "Acme"}})
    assert r.status_code == 200, r.text
    org_id = r.json()["organization"]["orgId"]
    assert r.json()["organization"]["memberRole"] == "owner"
    r = await api.call("POST", f"/orgs/{org_id}/workspaces", token=token,
                       json={"workspace": {"name": "lab", "fullName": "Lab", "visibility": "PRIVATE"}})
    assert r.status_code == 200, r.text
    ws_id = r.json()["workspace"]["id"]
    _, bob = await api.user_with_token("bob")
    r = await api.call("PUT", f"/orgs/{org_id}/members/add", token=token, json={"user": "bob@example.org"})
    assert r.status_code == 200 and r.json()["member"]["userName"] == "bob"
    assert (await api.call("GET", f"/orgs/{org_id}/workspaces/{ws_id}", token=bob)).status_code == 403
    assert (await api.call("GET", f"/orgs/{org_id}/members", token=bob)).json()["totalSize"] == 2
    assert (await api.call("GET", f"/orgs/{org_id}/workspaces", token=bob)).json()["workspaces"] == []
    assert (await api.call("GET", f"/orgs/{org_id}/workspaces/1", token=token)).status_code == 404


async def test_local_data_links_are_browsed_and_object_stores_answer_501(api: Api, tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("x,y\n")
    r = await api.call("POST", "/data-links", params={"workspaceId": 1},
                       json={"name": "shared", "resourceRef": root.as_uri()})
    assert r.status_code == 200, r.text
    link = r.json()["id"]
    listing = (await api.call("GET", f"/data-links/{link}/browse")).json()["objects"]
    assert [(o["type"], o["name"]) for o in listing] == [("FILE", "a.csv"), ("FOLDER", "sub")]
    assert (await api.call("GET", f"/data-links/{link}/browse/sub")).json()["objects"] == []
    assert (await api.call("GET", f"/data-links/{link}/browse/..%2F..")).status_code in (400, 404)
    assert (await api.call("GET", f"/data-links/{link}/browse/missing")).status_code == 404
    r = await api.call("POST", "/data-links", params={"workspaceId": 1},
                       json={"name": "bucket", "resourceRef": "gs://bucket/data"})  # s3://: test_datalinks_s3
    r = await api.call("GET", f"/data-links/{r.json()['id']}/browse")
    assert r.status_code == 501 and "not supported" in r.json()["message"]
    _, token = await api.user_with_token("ada")
    r = await api.call("POST", "/data-links", token=token, params={"workspaceId": 1},
                       json={"name": "x", "resourceRef": "file:///etc"})
    assert r.status_code == 403
