"""Warm pools through the whole system (`studios up`): a JupyterLab studio started from a pool has exactly its
own checkpoint's files and answers through its own origin only with the studio's credentials (docs/pools.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
import pytest

from libs.platform.session_keys import load_or_create_key, session_secret
from libs.testing.waiting import poll
from tests.e2e.conftest import System
from tests.e2e.helpers import status_is, wait_studio
from tests.integration.pool_helpers import CPU, MEMORY, pool_status, ready_members, session_record

pytestmark = [pytest.mark.jupyter,
              pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="jupyter extra missing")]
WS = {"workspaceId": 1}
LAB = {"computeEnvId": "local", "dataStudioToolUrl": "studios/jupyter:4",
       "configuration": {"cpu": CPU, "memory": MEMORY}}
POOL = {"warmPool": {"template": "studios/jupyter:4", "cpu": CPU, "memory": MEMORY, "size": 2}}


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    return {"STUDIOS_CONNECT_MODE": "subdomain"}


def _on_origin(system: System, sid: str, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    """A request to the studio's own origin ``<sid>.localhost:<port>`` (sent to the gateway's address)."""
    host = f"{sid.lower()}.localhost:{system.url.rpartition(':')[2]}"
    headers = {"Host": host, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.request(method, f"{system.url}/connect/{sid}{path}", headers=headers, timeout=30, **kw)


def _start_pooled(c: httpx.Client, system: System, sid: str, run: int) -> dict[str, Any]:
    state_dir = system.data_dir / "lifecycle"
    poll(lambda: (len(ready_members(state_dir)) >= 1) or None, "the pool has a warm member",
         timeout=180, every=0.1)
    dto = wait_studio(c, sid, status_is("running", "errored"), timeout=180)
    assert dto["statusInfo"]["status"] == "running", dto["statusInfo"]
    record = session_record(state_dir, f"{sid}-{run}")
    assert "warm pool" in record["limits"], record  # the run is a pooled process, not a cold start
    return record


def test_a_pooled_start_has_only_its_checkpoint_and_only_its_credentials(system: System) -> None:
    state_dir: Path = system.data_dir / "lifecycle"
    with system.client() as c:
        assert c.put("/compute-envs/local/warm-pool", json=POOL).status_code == 200
        poll(lambda: (len(ready_members(state_dir)) == 2) or None, "two pooled processes are warm",
             timeout=180, every=0.1)
        for member in ready_members(state_dir):  # what a pool must never hand a studio
            (state_dir / "pool" / "workspaces" / member["id"] / "from-the-pool.txt").write_text("pool")

        r = c.post("/studios", params=WS, json={"name": "pooled", **LAB})
        assert r.status_code == 200, r.text
        sid = r.json()["studio"]["sessionId"]
        _start_pooled(c, system, sid, 1)
        put = _on_origin(system, sid, "PUT", "/api/contents/mine.txt", system.token,
                         json={"type": "file", "format": "text", "content": "the studio's own"})
        assert put.status_code in (200, 201), put.text
        assert c.put(f"/studios/{sid}/stop", params=WS).status_code == 200
        wait_studio(c, sid, status_is("stopped"), timeout=90)

        assert c.put(f"/studios/{sid}/start", params=WS).status_code == 200  # restored into a pooled process
        record = _start_pooled(c, system, sid, 2)
        listing = _on_origin(system, sid, "GET", "/api/contents/", system.token)
        assert listing.status_code == 200, listing.text
        assert sorted(e["name"] for e in listing.json()["content"]) == ["mine.txt"]
        got = _on_origin(system, sid, "GET", "/api/contents/mine.txt", system.token)
        assert got.json()["content"] == "the studio's own"

        # only the studio's credentials, on its own origin: none, another user's, or a direct call without the
        # run's secret (the pool's included) get nothing
        assert _on_origin(system, sid, "GET", "/api/status", None).status_code in (302, 401)
        r = c.post("/users", json={"userName": "mallory", "email": "m@example.org"})
        uid = r.json()["user"]["id"]
        other = c.post(f"/users/{uid}/tokens", json={"name": "t"}).json()["accessKey"]
        assert _on_origin(system, sid, "GET", "/api/status", other).status_code == 404
        tool = f"http://127.0.0.1:{record['port']}/connect/{sid}/api/status"
        key = load_or_create_key(state_dir / "session-key")
        assert httpx.get(tool, timeout=10).status_code == 403
        for member in {m["id"] for p in pool_status(state_dir)["pools"] for m in p["members"]}:
            pool_token = session_secret(key, f"pool/{member}")
            assert httpx.get(tool, headers={"Authorization": f"token {pool_token}"}, timeout=10).status_code == 403
        assert httpx.get(tool, headers={"Authorization": f"token {session_secret(key, f'{sid}-2')}"},
                         timeout=10).status_code == 200
        assert _on_origin(system, sid, "GET", "/api/status", system.token).status_code == 200

        poll(lambda: (len(ready_members(state_dir)) == 2) or None, "the pool refilled",
             timeout=180, every=0.1)
        c.put(f"/studios/{sid}/stop", params=WS)
        wait_studio(c, sid, status_is("stopped"), timeout=90)
        assert c.put("/compute-envs/local/warm-pool", json={"warmPool": {**POOL["warmPool"], "size": 0}}
                     ).status_code == 200
        poll(lambda: (not any(p["members"] for p in pool_status(state_dir)["pools"])) or None,
             "the pool shrank to none", timeout=180, every=0.1)
