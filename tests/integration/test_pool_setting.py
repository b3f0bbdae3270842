"""``warmPool`` on a compute environment over the API: admins only, validated, one event with no secret in it."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_identity_api import Api, api  # noqa: F401 - the fixture

URL = "/compute-envs/local/warm-pool"
GOOD = {"warmPool": {"template": "studios/jupyter:4", "cpu": 1, "memory": 1024, "size": 2}}


async def _pool_events(a: Api) -> list[dict[str, object]]:
    rows = await a.store.pool.fetch("SELECT data FROM es.events WHERE event_type = 'ComputeEnvWarmPoolSet' "
                                    "ORDER BY global_position")
    return [json.loads(r["data"]) if isinstance(r["data"], str) else dict(r["data"]) for r in rows]


async def test_an_admin_sets_the_pool_and_reads_it_back_and_a_repeat_records_nothing(api: Api) -> None:  # noqa: F811
    assert (await api.call("GET", URL)).json()["warmPool"]["size"] == 0  # none by default
    r = await api.call("PUT", URL, json=GOOD)
    assert r.status_code == 200, r.text
    assert (await api.call("GET", URL)).json() == GOOD
    assert (await api.call("PUT", URL, json=GOOD)).status_code == 200
    events = await _pool_events(api)
    assert len(events) == 1
    assert {k: events[0][k] for k in ("template", "cpu", "memory", "size")} == GOOD["warmPool"]
    assert set(events[0]) == {"compute_env_id", "workspace_id", "template", "cpu", "memory", "size", "at", "actor"}


async def test_only_an_admin_may_set_it(api: Api) -> None:  # noqa: F811
    _, token = await api.user_with_token("ada")
    r = await api.call("PUT", URL, json=GOOD, token=token)
    assert r.status_code == 403
    assert await _pool_events(api) == []


@pytest.mark.parametrize("pool,word", [
    ({"template": "studios/jupyter:4", "cpu": 1, "memory": 1024, "size": -1}, "size"),
    ({"template": "studios/jupyter:4", "cpu": 1, "memory": 1024, "size": 1000}, "size"),
    ({"template": "studios/jupyter:4", "cpu": 0, "memory": 1024, "size": 1}, "cpu"),
    ({"template": "studios/jupyter:4", "cpu": 1, "memory": 10, "size": 1}, "memory"),
    ({"template": "no/such:1", "cpu": 1, "memory": 1024, "size": 1}, "template"),
    ({"template": "studios/http-echo:1", "cpu": 1, "memory": 1024, "size": 1}, "template"),
    ({"template": "studios/jupyter:4", "cpu": "many", "memory": 1024, "size": 1}, "cpu"),
])
async def test_bad_values_are_a_400_that_names_them(api: Api, pool: dict[str, object], word: str) -> None:  # noqa: F811
    r = await api.call("PUT", URL, json={"warmPool": pool})
    assert r.status_code == 400, r.text
    assert word in r.text
    assert await _pool_events(api) == []


async def test_an_unknown_compute_env_is_a_404(api: Api) -> None:  # noqa: F811
    assert (await api.call("PUT", "/compute-envs/nope/warm-pool", json=GOOD)).status_code == 404
