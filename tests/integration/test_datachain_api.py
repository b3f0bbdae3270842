"""The DataChain dialect over HTTP: bad requests get its error shape (``{"message": ...}``, what the client reads)
and status, nothing is stored for them; both auth schemes work; scopes and teams are enforced; its OpenAPI is
published beside the native one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.datachain_helpers import ADMIN, running_system

TOKEN = {"Authorization": f"token {ADMIN}"}
JOB = {"query": "print(1)", "query_type": "PYTHON", "team_name": "default"}


async def _jobs(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await http.get("/api/datachain/jobs/", params={"team_name": "default"}, headers=TOKEN)
    assert r.status_code == 200
    return list(r.json())


async def test_bad_requests_get_the_dialects_error_shape_and_store_nothing(database_url: str, nats_url: str,
                                                                           tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system, \
            httpx.AsyncClient(base_url=system.url, trust_env=False, timeout=30) as http:
        cases = [
            ({**JOB, "compute_cluster_name": "local", "compute_cluster_id": "local"}, TOKEN, 400, "mutually exclusive"),
            ({**JOB, "team_name": "no-such-team"}, TOKEN, 404, "no-such-team"),
            ({"query_type": "PYTHON", "team_name": "default"}, TOKEN, 400, "query"),
            ({**JOB, "priority": 9}, TOKEN, 400, "priority"),
            ({**JOB, "compute_cluster_name": "nowhere"}, TOKEN, 400, "nowhere"),
            ({**JOB, "environment": "NOT A PAIR"}, TOKEN, 400, "environment"),
            ({**JOB, "files": ["999"]}, TOKEN, 400, "999"),
            ({**JOB, "cron_expression": "whenever"}, TOKEN, 400, "cron_expression"),
            (JOB, {}, 401, "token"),
            (JOB, {"Authorization": "token wrong"}, 401, "token"),
        ]
        for body, headers, status, word in cases:
            r = await http.post("/api/datachain/jobs/", json=body, headers=headers)
            assert r.status_code == status, (body, r.text)
            assert set(r.json()) == {"message"} and word in r.json()["message"], r.text
        assert await _jobs(http) == []
        r = await http.post("/api/datachain/jobs/no-such-job/cancel", json={"team_name": "default"}, headers=TOKEN)
        assert r.status_code == 404 and "message" in r.json()


async def test_token_and_bearer_schemes_scopes_and_the_follow_refusal(database_url: str, nats_url: str,
                                                                       tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system, \
            httpx.AsyncClient(base_url=system.url, trust_env=False, timeout=30) as http:
        r = await http.post("/api/datachain/jobs/", json=JOB, headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200, r.text
        created = r.json()
        assert created["status"] in ("QUEUED", "INIT", "RUNNING", "COMPLETE") and created["team"] == "default"
        assert created["compute_cluster_name"] == "local"
        r = await http.get("/api/datachain/jobs/", params={"team_name": "default", "job_id": created["id"]},
                           headers=TOKEN)
        assert [j["id"] for j in r.json()] == [created["id"]]
        r = await http.get("/api/datachain/datasets/dataset_job_versions",
                           params={"team_name": "default", "job_id": created["id"]}, headers=TOKEN)
        assert r.status_code == 200 and r.json() == {"dataset_versions": []}

        scoped = await http.post("/users/1/tokens", json={"name": "studio-only", "scopes": ["studio:read"]},
                                 headers={"Authorization": f"Bearer {ADMIN}"})
        assert scoped.status_code == 200, scoped.text
        other = {"Authorization": f"token {scoped.json()['accessKey']}"}
        r = await http.get("/api/datachain/jobs/", params={"team_name": "default"}, headers=other)
        assert r.status_code == 403 and "job:read" in r.json()["message"]
        r = await http.get("/api/datachain/clusters/", params={"team_name": "default"}, headers=other)
        assert r.status_code == 403

        ws_url = system.url.replace("http", "ws") + f"/api/logs/follow/?job_id={created['id']}&team_name=default"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(ws_url, additional_headers=other):
                pass
        assert refused.value.response.status_code == 403


async def test_the_dialects_openapi_is_published_beside_the_native_one(database_url: str, nats_url: str,
                                                                       tmp_path: Path) -> None:
    async with running_system(database_url, nats_url, tmp_path) as system, \
            httpx.AsyncClient(base_url=system.url, trust_env=False, timeout=30) as http:
        native = (await http.get("/openapi.json")).json()
        dialect = (await http.get("/api/datachain/openapi.json")).json()
        assert {"/api/datachain/jobs/", "/api/datachain/jobs/{job_id}/cancel", "/api/datachain/jobs/files",
                "/api/datachain/clusters/"} <= set(dialect["paths"])
        assert not any(p.startswith("/studios") for p in dialect["paths"])
        assert any(p.startswith("/studios") for p in native["paths"])
