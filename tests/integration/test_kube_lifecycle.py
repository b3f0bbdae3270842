"""Lifecycle's side of ``k8s-platform`` compute environments, on the real store: refused with the setting named
when no namespace is configured; routed to the kubernetes backend with the environment's placement config; and
what the backend says while a pod starts (its events) shown on the start's waiting step, warnings included.

The backend itself runs against a cluster in test_backend_contract.py (when KUBECONFIG names one)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from libs.contracts import identity
from libs.contracts.identity import ComputeEnvCreated
from libs.contracts.studio import StudioStatus, StudioTemplate
from libs.contracts.studio_state import State
from libs.eventstore import EventStore, Expected, to_new_events
from services.gateway.bootstrap import ensure_defaults
from services.lifecycle.backends.base import ComputeBackend, Handle
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.kube_events import StartProgress
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.runner import SessionRunner
from services.lifecycle.sessions.start_progress import StartProgressReporter
from tests.integration.lifecycle_harness import create

PLACEMENT = {"namespace": "studios", "nodeSelector": {"pool": "studios"}, "computeServiceAccount": "runner"}
SLOW = StartProgress("the cluster autoscaler is adding a node",
                     ("no node can run it yet (FailedScheduling): 0/3 nodes are available: 3 Insufficient cpu.",))


class SlowSchedulingBackend(FakeBackend):
    """Ready only after saying, as the kubernetes backend does, that no node fits yet."""

    name = "kubernetes"
    report: StartProgressReporter | None = None

    async def ready(self, handle: Handle, timeout: float) -> bool:
        assert self.report is not None
        await self.report(handle.session_id, SLOW)
        return await super().ready(handle, timeout)


async def _start(store: EventStore, tmp_path: Path, backends: dict[str, ComputeBackend],
                 handlers: StudioHandlers | None = None) -> State:
    handlers = handlers or StudioHandlers(store)
    env_id = uuid.uuid4().hex[:10]
    created = ComputeEnvCreated(compute_env_id=env_id, workspace_id=1, name=env_id, platform="k8s-platform",
                                config=PLACEMENT, at=datetime.now(UTC), actor="1")
    await store.append(identity.stream(identity.COMPUTE_ENV, env_id), to_new_events([created]), Expected.NO_STREAM)
    routing = RoutingBackend(backends, tmp_path / "state" / "logs")
    runner = SessionRunner(handlers, routing, Provisioner(store, tmp_path / "ws", b"k" * 32,
                                                          backends=frozenset(backends)))
    cmd = create("on-k8s", template=StudioTemplate(repository="registry/tool:1", tool="http-echo"))
    cmd = cmd.model_copy(update={"compute_env_id": env_id})
    await handlers.handle(cmd)
    runner.start(cmd.session_id, 1)
    await runner.drain()
    return await handlers.state(cmd.session_id)


async def test_without_a_namespace_the_start_is_refused_naming_the_setting(store: EventStore,
                                                                           tmp_path: Path) -> None:
    local = FakeBackend()
    state = await _start(store, tmp_path, {"local": local})
    assert state.status is StudioStatus.ERRORED
    assert "STUDIOS_KUBE_NAMESPACE" in (state.status_message or "")
    assert await local.list_sessions() == []  # never quietly run as a local process


async def test_a_kubernetes_environment_runs_on_the_kubernetes_backend_with_its_placement(store: EventStore,
                                                                                          tmp_path: Path) -> None:
    local, kube = FakeBackend(), FakeBackend()
    state = await _start(store, tmp_path, {"local": local, "kubernetes": kube})
    assert state.status is StudioStatus.RUNNING
    [spec] = kube.launched
    assert (spec.backend, spec.image, spec.compute_config) == ("kubernetes", "registry/tool:1", PLACEMENT)
    assert local.launched == []


async def test_pod_events_show_on_the_waiting_step_while_the_start_is_under_way(store: EventStore,
                                                                                tmp_path: Path) -> None:
    handlers = StudioHandlers(store)
    kube = SlowSchedulingBackend()
    kube.report = StartProgressReporter(handlers)
    state = await _start(store, tmp_path, {"local": FakeBackend(), "kubernetes": kube}, handlers)
    assert state.status is StudioStatus.RUNNING
    waiting = state.progress[-1].message
    recorded = [r.data for r in await store.read_stream(identity.stream("studio", state.session_id))
                if r.event_type == "StudioProgressRecorded" and r.data["step"] == waiting]
    assert {"status": "in-progress", "detail": SLOW.detail, "warnings": list(SLOW.warnings)}.items() <= \
        next(d for d in recorded if d["warnings"]).items()
    assert recorded[-1]["status"] == "succeeded"  # the runner still records the step's outcome after


async def test_a_line_for_a_run_that_is_no_longer_current_is_dropped(store: EventStore, tmp_path: Path) -> None:
    handlers = StudioHandlers(store)
    state = await _start(store, tmp_path, {"local": FakeBackend(), "kubernetes": FakeBackend()}, handlers)
    before = await store.read_stream(identity.stream("studio", state.session_id))
    await StartProgressReporter(handlers)(f"{state.session_id}-{state.run + 1}", SLOW)  # a run never started
    await StartProgressReporter(handlers)(state.run_key, SLOW)  # running: its progress is settled
    assert await store.read_stream(identity.stream("studio", state.session_id)) == before


async def test_the_bootstrap_compute_environment_can_be_the_kubernetes_one(store: EventStore) -> None:
    """deploy/kubernetes sets STUDIOS_DEFAULT_PLATFORM=k8s-platform: the first start's environment runs pods."""
    await ensure_defaults(store, "t" * 32, platform="k8s-platform")
    [created] = [r.data for r in await store.read_stream(identity.stream(identity.COMPUTE_ENV, "kubernetes"))]
    assert (created["platform"], created["name"]) == ("k8s-platform", "kubernetes")
    assert "allowCustomCommands" not in created["config"]  # a pod's command is the image's
