"""Civis's own client (``civis``, unmodified) drives Studios end to end through ``/civis`` against the whole system
(``studios up``: gateway, lifecycle, logs...): create, deploy, wait for running, open the display link, read the
logs, page the deployments with ``iterator=True``, delete the deployment, archive. Bad requests get Civis's error
shape and change nothing; one studio is one studio in the Civis and the Seqera dialects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from civis.base import CivisAPIError

from libs.testing.waiting import poll
from tests.e2e.conftest import System, system  # noqa: F401 - the whole system, as a module fixture
from tests.e2e.test_security import _user
from tests.integration.civis_helpers import client, count_events, state_is

#: the client builds its methods at run time from /endpoints (ours has ``list``, its bundled stubs do not)
Civis = Any
ECHO: dict[str, Any] = {"docker_image_name": "studios/http-echo", "docker_image_tag": "1", "partition_label": "local"}


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    return {"STUDIOS_CONNECT_MODE": "subdomain"}  # displayUrl redeems a connect ticket on the studio's origin


@pytest.fixture
def api(system: System, monkeypatch: pytest.MonkeyPatch) -> Iterator[Civis]:  # noqa: F811
    monkeypatch.setenv("CIVIS_API_ENDPOINT", f"{system.url}/civis/")
    yield client(f"{system.url}/civis/", system.token)


def _deployment(api: Civis, studio: int, run: int, *states: str) -> Any:
    def check() -> Any:
        d = api.studios.get_deployments(studio, run)
        return d if state_is(*states)(d) else None
    return poll(check, f"deployment {run} of studio {studio} {states}")


def _open_display(gateway_system: System, url: str) -> httpx.Response:
    """A browser's way through the display link, with no credential: the link, the ticket on the studio's origin,
    the cookie it sets. ``*.localhost`` resolves to the loopback address: the gateway is reached with ``Host``."""
    gateway = httpx.Client(timeout=30)
    first = gateway.get(url)
    assert first.status_code == 302, first.text
    target = urlsplit(first.headers["location"])
    assert target.hostname and target.hostname.endswith(".localhost") and "studios_ticket=" in target.query
    origin = httpx.Client(base_url=gateway_system.url, headers={"Host": target.netloc}, timeout=30)
    second = origin.get(f"{target.path}?{target.query}")
    assert second.status_code == 302 and second.cookies, second.text
    return origin.get(second.headers["location"])


def test_the_civis_client_drives_a_studio_end_to_end(system: System, api: Civis) -> None:  # noqa: F811
    params = [{"name": "GREETING", "type": "string", "value": "hello", "description": "said at start"},
              {"name": "WAREHOUSE", "type": "credential_custom", "value": 42}]
    s = api.studios.post(name="civis-echo", required_resources={"cpu": 1000, "memory": 512, "disk_space": 1.5},
                         params=params, **ECHO)
    assert (s.docker_image_name, s.docker_image_tag, s.my_permission_level) == ("studios/http-echo", "1", "manage")
    assert (s.required_resources.cpu, s.required_resources.memory, s.required_resources.disk_space) == (1000, 512, 1.5)
    assert [(p.name, p.value) for p in s.params] == [("GREETING", "hello"), ("WAREHOUSE", None)]
    assert s.most_recent_deployment is None and s.partition_label == "local" and isinstance(s.id, int)

    first = api.studios.post_deployments(s.id)
    assert first.state in ("pending", "running") and first.studio_id == s.id
    running = _deployment(api, s.id, first.deployment_id, "RUNNING")  # states compare case-insensitively
    assert (running.cpu, running.memory) == (1000, 512)
    opened = _open_display(system, running.display_url)
    assert opened.status_code == 200 and opened.json()["path"].startswith(f"/connect/{s.id:08x}/"), opened.text

    logs = poll(lambda: api.studios.list_deployments_logs(s.id, first.deployment_id) or None, "the run's logs")
    assert all(line.source in ("user", "system") and line.stream in ("stdout", "stderr") for line in logs)
    assert all(line.created_at for line in logs)

    api.studios.delete_deployments(s.id, first.deployment_id)
    stopped = _deployment(api, s.id, first.deployment_id, "stopped")
    assert httpx.get(running.display_url).status_code == 409  # the link opens its own run only while it runs
    tampered = running.display_url.replace("token=", "token=9")
    assert httpx.get(tampered).json()["code"] == 403
    history = httpx.get(f"{system.url}/studios/{s.id:08x}/history", params={"workspaceId": 1},
                        headers={"Authorization": f"Bearer {system.token}"}).json()["events"]
    usage = next(e["data"]["usage"] for e in history if e["eventType"] == "StudioSessionStopped")
    expected = (usage["peak_memory_mb"], usage["peak_cpu_millicores"]) if usage else (None, None)
    assert (stopped.max_memory_usage, stopped.max_cpu_usage) == expected

    second = api.studios.post_deployments(s.id)
    _deployment(api, s.id, second.deployment_id, "running")
    paged = list(api.studios.list_deployments(s.id, iterator=True, limit=1))  # pages until an empty one
    assert [d.deployment_id for d in paged] == [second.deployment_id, first.deployment_id]
    assert api.studios.get(s.id).most_recent_deployment.deployment_id == second.deployment_id
    api.studios.delete_deployments(s.id, second.deployment_id)
    _deployment(api, s.id, second.deployment_id, "stopped")

    archived = api.studios.put_archive(s.id, True)
    assert archived.archived == "true"
    with pytest.raises(CivisAPIError) as gone:
        api.studios.get(s.id)
    assert gone.value.status_code == 404
    assert httpx.get(f"{system.url}/studios/{s.id:08x}", params={"workspaceId": 1},
                     headers={"Authorization": f"Bearer {system.token}"}).status_code == 404


def _raw(gateway_system: System, method: str, path: str, key: str | None = "admin",
         **kwargs: Any) -> httpx.Response:
    auth = (gateway_system.token if key == "admin" else key, "") if key is not None else None
    return httpx.request(method, f"{gateway_system.url}/civis{path}", auth=auth, timeout=30, **kwargs)


def test_bad_requests_get_civis_errors_and_change_nothing(system: System, api: Civis) -> None:  # noqa: F811
    s = api.studios.post(name="civis-refusals", **ECHO)
    before = count_events(system.database_url)
    for path in ("/endpoints", "/studios", f"/studios/{s.id}", f"/studios/{s.id}/deployments"):
        for key in (None, "not-a-key"):
            r = _raw(system, "GET", path, key)
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic"), (path, r.text)
            assert set(r.json()) >= {"errorDescription", "code"} and r.json()["code"] == 401
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", "/studios", {"json": {"name": "civis-bad", "docker_image_name": "no/such-image"}}, 400),
        ("POST", "/studios", {"json": {"name": "bad name with spaces", **ECHO}}, 400),
        ("POST", "/studios", {"json": {"name": "civis-x", "unknown_field": 1, **ECHO}}, 400),
        ("POST", "/studios", {"json": {"name": "civis-z", **ECHO, "params": [  # a secret never reaches an event
            {"name": "PW", "type": "credential_custom", "value": "hunter2"}]}}, 400),
        ("POST", "/studios", {"json": {"name": "civis-refusals", **ECHO}}, 409),  # the name is taken
        ("POST", "/studios", {"json": {"name": "civis-y", **ECHO, "partition_label": "nowhere"}}, 400),
        ("PATCH", f"/studios/{s.id}", {"json": {"docker_image_name": "studios/jupyter"}}, 400),
        ("GET", f"/studios/{s.id}/deployments", {"params": {"limit": 51}}, 400),
        ("GET", f"/studios/{s.id}/deployments", {"params": {"order_dir": "sideways"}}, 400),
        ("GET", f"/studios/{s.id}/deployments", {"params": {"order": "name"}}, 400),
        ("GET", f"/studios/{s.id}/deployments/7", {}, 404),
        ("DELETE", f"/studios/{s.id}/deployments/7", {}, 404),
        ("GET", f"/studios/{s.id}/deployments/7/logs", {}, 404),
        ("GET", "/studios/99", {}, 404),
        ("GET", "/studios/not-a-number", {}, 400),
        ("PUT", f"/studios/{s.id}/archive", {"json": {}}, 400),
        ("GET", "/no-such-endpoint", {}, 404),
    ]
    for method, path, kwargs, status in cases:
        r = _raw(system, method, path, **kwargs)
        assert r.status_code == status, (method, path, r.text)
        body = r.json()
        assert body["code"] == status and body["errorDescription"], body
    with pytest.raises(CivisAPIError) as refused:  # the client reads our errorDescription
        api.studios.list_deployments(s.id, limit=51)
    assert refused.value.status_code == 400 and "limit" in refused.value.error_message
    assert count_events(system.database_url) == before


def test_a_studio_is_one_studio_in_the_civis_and_seqera_dialects(system: System,  # noqa: F811
                                                                  api: Civis) -> None:
    seqera = system.client()
    r = seqera.post("/studios", params={"workspaceId": 1, "autoStart": "false"},
                    json={"name": "from-seqera", "computeEnvId": "local", "dataStudioToolUrl": "studios/http-echo:1"})
    assert r.status_code == 200, r.text
    sid = r.json()["studio"]["sessionId"]
    listed = {x.id: x for x in api.studios.list(limit=100)}
    assert int(sid, 16) in listed and listed[int(sid, 16)].name == "from-seqera"
    renamed = api.studios.patch(int(sid, 16), name="renamed-in-civis",
                                required_resources={"memory": 1024})
    assert renamed.name == "renamed-in-civis" and renamed.required_resources.memory == 1024
    dto = seqera.get(f"/studios/{sid}", params={"workspaceId": 1}).json()
    assert dto["name"] == "renamed-in-civis" and dto["configuration"]["memory"] == 1024

    made = api.studios.post(name="from-civis", **ECHO)
    dto = seqera.get(f"/studios/{made.id:08x}", params={"workspaceId": 1}).json()
    assert dto["name"] == "from-civis" and dto["template"]["repository"] == "studios/http-echo:1"


def test_the_endpoints_document_gives_the_client_its_list_methods(system: System,  # noqa: F811
                                                                  api: Civis) -> None:
    for method in ("list", "post", "get", "put", "patch", "put_archive", "list_deployments", "post_deployments",
                   "get_deployments", "delete_deployments", "list_deployments_logs"):
        assert callable(getattr(api.studios, method, None)), method
    doc = _raw(system, "GET", "/endpoints").json()
    assert doc["swagger"] == "2.0"
    for path, ops in doc["paths"].items():
        for verb, op in ops.items():
            assert op["summary"] and op["responses"], (verb, path)
            ok = op["responses"].get("200", {}).get("schema", {})
            if verb == "get" and not path.rstrip("/").endswith("}"):
                assert ok.get("type") == "array", (verb, path)


def test_a_create_retried_with_its_idempotency_key_makes_one_studio(system: System) -> None:  # noqa: F811
    body = {"name": "civis-once", **ECHO}
    first = _raw(system, "POST", "/studios", json=body, headers={"Idempotency-Key": "civis-once-1"})
    assert first.status_code == 201, first.text
    events = count_events(system.database_url)
    again = _raw(system, "POST", "/studios", json=body, headers={"Idempotency-Key": "civis-once-1"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"], again.text
    assert count_events(system.database_url) == events


def test_my_permission_level_is_the_callers_workspace_role(system: System, api: Civis) -> None:  # noqa: F811
    s = api.studios.post(name="civis-roles", **ECHO)
    with system.client() as admin:
        keys = {role: _user(admin, role) for role in ("view", "launch", "maintain")}
        outsider = _user(admin, None)
    levels = {role: _raw(system, "GET", f"/studios/{s.id}", key).json()["myPermissionLevel"]
              for role, key in keys.items()}
    assert levels == {"view": "read", "launch": "write", "maintain": "manage"}
    events = count_events(system.database_url)
    refused = _raw(system, "POST", f"/studios/{s.id}/deployments", keys["view"], json={})
    assert refused.status_code == 403 and refused.json()["code"] == 403, refused.text
    assert _raw(system, "GET", f"/studios/{s.id}", outsider).status_code == 404  # not a participant: hidden
    assert s.id not in [x["id"] for x in _raw(system, "GET", "/studios", outsider).json()]
    assert count_events(system.database_url) == events
