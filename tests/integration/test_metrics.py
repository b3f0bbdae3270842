"""Each service's ``/metrics`` serves its ``studios_*`` registry: the gateway's proxy metrics, lifecycle's sessions
by state, start latency and reconcile passes (read by name from the served text, after real work)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from libs.contracts.studio import StudioStatus
from libs.platform.infra import free_port
from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings
from tests.integration.lifecycle_harness import create, running_lifecycle

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_gateway_metrics_serve_the_studios_registry(database_url: str, nats_url: str, tmp_path: Path) -> None:
    settings = GatewaySettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(tmp_path),
                               STUDIOS_ADMIN_TOKEN="admin")
    app = create_app(settings)  # /metrics needs nothing the lifespan opens
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    assert _value(samples, "studios_proxy_websockets_open", service="gateway") is not None
    assert any(name == "process_cpu_seconds_total" for name, _ in samples)  # the process collector is in it too


async def test_lifecycle_metrics_count_sessions_starts_and_reconcile_passes(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    port = free_port()
    async with running_lifecycle(database_url, nats_url, tmp_path, STUDIOS_LIFECYCLE_METRICS_PORT=port) as lc:
        cmd = create("metered")
        await lc.send(cmd)
        await lc.wait_status(cmd.session_id, StudioStatus.RUNNING)
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            samples: Samples = {}
            for _ in range(200):  # bounded poll: until a reconcile pass has seen the session running
                samples = _samples((await http.get(f"http://127.0.0.1:{port}/metrics")).text)
                if (_value(samples, "studios_sessions", service="lifecycle", state="running") or 0) >= 1:
                    break
                await asyncio.sleep(0.05)
    assert (_value(samples, "studios_sessions", service="lifecycle", state="running") or 0) >= 1
    assert _value(samples, "studios_sessions", service="lifecycle", state="stopping") is not None
    assert (_value(samples, "studios_session_start_seconds_count", service="lifecycle") or 0) >= 1
    assert (_value(samples, "studios_reconcile_passes_total", service="lifecycle", outcome="ok") or 0) >= 1


async def test_a_stopped_lifecycle_releases_its_metrics_port(database_url: str, nats_url: str, tmp_path: Path) -> None:
    port = free_port()
    for _ in range(2):  # the second lifecycle can only serve its metrics if the first one let the port go
        async with running_lifecycle(database_url, nats_url, tmp_path, STUDIOS_LIFECYCLE_METRICS_PORT=port):
            async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
                assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
