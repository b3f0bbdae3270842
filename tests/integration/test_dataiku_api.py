"""The Dataiku dialect's wire over real HTTP (the whole system, real PostgreSQL and NATS): Dataiku's three
credentials, bodies without a Content-Type, bad requests answered in Dataiku's error shape that change nothing,
one model across dialects, and the published OpenAPI document."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import dataikuapi
import httpx
import pytest
from dataikuapi.utils import DataikuException

from tests.integration.dataiku_harness import TEMPLATE, System, running_system

API = "/dip/publicapi"


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def events(system: System) -> int:
    store = system.lifecycle.store
    return int(await store.pool.fetchval("SELECT count(*) FROM es.events"))


def dataiku_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"}, body
    return body


@pytest.fixture
async def system(database_url: str, nats_url: str, tmp_path: Path) -> Any:
    async with running_system(database_url, nats_url, tmp_path) as s:
        async with s.http() as http:
            assert (await http.post("/templates", json=TEMPLATE)).status_code == 201
        yield s


async def test_the_key_is_accepted_as_basic_user_dku_ticket_or_bearer_and_nothing_else(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url + API) as http:
        for headers in (basic(system.token), {"X-DKU-APITicket": system.token},
                        {"Authorization": f"Bearer {system.token}"}):
            r = await http.get("/admin/code-studios/", headers=headers)
            assert r.status_code == 200 and "dku-lab" in [t["id"] for t in r.json()], headers
        for headers in ({}, basic("not-a-key"), {"Authorization": "Basic !!!"}):
            r = await http.get("/admin/code-studios/", headers=headers)
            body = dataiku_error(r, 401)
            assert body["errorType"].endswith("UnauthorizedException") and r.headers["www-authenticate"]


async def test_bad_requests_get_dataikus_error_shape_and_status_and_change_nothing(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url + API, headers=basic(system.token)) as http:
        # a real code studio to aim the bad requests at
        made = await http.post("/projects/default/code-studios/", content=b'{"name": "ok-1", "templateId": "dku-lab"}')
        assert made.status_code == 200 and made.json()["codeStudio"]["name"] == "ok-1"
        sid = made.json()["codeStudio"]["id"]
        before = await events(system)
        bad = [
            ("POST", "/projects/default/code-studios/", b'{"name": "x"}', 400),  # no templateId
            ("POST", "/projects/default/code-studios/", b'{"name": "x", "templateId": "nope"}', 400),
            ("POST", "/projects/default/code-studios/", b"not json", 400),
            ("POST", "/projects/default/code-studios/", b'{"name": "has space", "templateId": "dku-lab"}', 400),
            ("POST", "/projects/default/code-studios/", b'{"name": "ok-1", "templateId": "dku-lab"}', 409),
            ("POST", "/projects/NOPE/code-studios/", b'{"name": "x", "templateId": "dku-lab"}', 404),
            ("GET", "/projects/default/code-studios/nope0000/status", b"", 404),
            ("GET", f"/projects/default/code-studios/{sid}/push/not-a-zone", b"", 400),
            ("GET", f"/projects/default/code-studios/{sid}/push/user-versioned", b"", 409),  # not running
            ("PUT", "/admin/code-studios/dku-lab", b'{"containerConfs": ["mainframe"]}', 400),
            ("POST", "/admin/code-studios/nope/build", b"", 404),
            ("GET", "/futures/nope", b"", 404),
            ("GET", "/futures/codestudio-start-nope0000-1", b"", 404),
        ]
        for method, path, body, status in bad:
            dataiku_error(await http.request(method, path, content=body), status)
        assert await events(system) == before  # nothing was decided
        listed = (await http.get("/projects/default/code-studios/")).json()
        assert [s["name"] for s in listed] == ["ok-1"]


async def test_the_client_raises_dataikus_exception_with_the_error_type(system: System) -> None:
    client = dataikuapi.DSSClient(system.url, api_key=system.token)
    with pytest.raises(DataikuException, match="NotFoundException"):
        await asyncio.to_thread(client.get_project("NOPE").list_code_studios)


async def test_one_model_a_code_studio_is_a_seqera_studio_and_back(system: System) -> None:
    client = dataikuapi.DSSClient(system.url, api_key=system.token)
    studio = await asyncio.to_thread(client.get_project("default").create_code_studio, "from-dataiku", "dku-lab")
    async with system.http() as http:
        seqera = (await http.get(f"/studios/{studio.code_studio_id}", params={"workspaceId": 1})).json()
        assert seqera["name"] == "from-dataiku" and seqera["statusInfo"]["status"] == "stopped"
        assert seqera["template"]["repository"] == TEMPLATE["repository"]
        made = await http.post("/studios", params={"workspaceId": 1, "autoStart": "false"}, json={
            "name": "from-seqera", "computeEnvId": "local", "dataStudioToolUrl": TEMPLATE["repository"]})
        assert made.status_code == 200, made.text
    listed = await asyncio.to_thread(client.get_project("1").list_code_studios)  # the numeric id works too
    by_name = {s.name: s for s in listed}
    assert set(by_name) == {"from-dataiku", "from-seqera"} and by_name["from-seqera"].template_id == "dku-lab"


async def test_the_dialect_publishes_its_openapi_document(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url + API) as http:
        doc = (await http.get("/openapi.json")).json()
    paths = doc["paths"]
    assert f"{API}/projects/{{project_key}}/code-studios/{{studio_id}}/restart" in paths
    assert f"{API}/futures/{{job_id}}" in paths and f"{API}/admin/code-studios/{{template_id}}/build" in paths


async def test_a_failed_build_ends_the_clients_wait_with_dataikus_error(system: System) -> None:
    broken = {**TEMPLATE, "id": "dku-broken", "repository": "studios/dku-broken:1",
              "requirements": ["no-such-package-xyz"]}
    async with system.http() as http:
        assert (await http.post("/templates", json=broken)).status_code == 201
    client = dataikuapi.DSSClient(system.url, api_key=system.token)
    future = await asyncio.to_thread(client.get_code_studio_template("dku-broken").build)
    with pytest.raises(DataikuException, match=r"FutureAbortedException: Build .* failed"):
        await asyncio.to_thread(future.wait_for_result)


async def _user(system: System, name: str) -> str:
    """A user of the default project (launch role); returns their API key."""
    async with system.http() as http:
        made = await http.post("/users", json={"userName": name, "email": f"{name}@example.org"})
        assert made.status_code == 200, made.text
        key = (await http.post(f"/users/{made.json()['user']['id']}/tokens", json={"name": "dku"})).json()
        assert (await http.post("/orgs/1/members", json={"user": name})).status_code == 200
        added = await http.put("/orgs/1/workspaces/1/participants/add", json={"userNameOrEmail": name})
        assert added.status_code == 200, added.text
    return str(key["accessKey"])


async def test_change_owner_gives_the_code_studio_to_another_user_of_the_project(system: System) -> None:
    bob_key = await _user(system, "bob")
    carol_key = await _user(system, "carol")
    admin = dataikuapi.DSSClient(system.url, api_key=system.token)
    studio = await asyncio.to_thread(admin.get_project("default").create_code_studio, "handed-over", "dku-lab")
    with pytest.raises(DataikuException, match="not a user of project"):
        await asyncio.to_thread(studio.change_owner, "nobody")
    changed = await asyncio.to_thread(studio.change_owner, "bob")
    assert changed["owner"] == "bob"
    bobs = dataikuapi.DSSClient(system.url, api_key=bob_key).get_project("default")
    bob = bobs.get_code_studio(studio.code_studio_id)
    assert (await asyncio.to_thread(bob.get_settings)).owner == "bob"
    carol = dataikuapi.DSSClient(system.url, api_key=carol_key).get_project("default")
    with pytest.raises(DataikuException, match="UnauthorizedException"):  # neither its owner nor an admin
        await asyncio.to_thread(carol.get_code_studio(studio.code_studio_id).change_owner, "carol")
    async with system.http() as http:  # the same fact in the Seqera dialect
        seqera = (await http.get(f"/studios/{studio.code_studio_id}", params={"workspaceId": 1})).json()
    assert seqera["user"]["userName"] == "bob"
