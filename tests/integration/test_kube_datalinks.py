"""Lifecycle's side of ``s3://`` data links on ``k8s-platform``, on the real store: the link reaches the kubernetes
backend as a pod link (synced by the pod's init container, ``kube_links.py``) with the credentials the link names,
nothing is copied on lifecycle's host and nothing is mounted from it; a private link naming no credentials fails
the start, naming the link, before any pod. No bucket is read here: the pod does that (test_datalinks_sync.py runs
the sync entry point against a real S3 server)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from libs.contracts import identity
from libs.contracts.identity import ComputeEnvCreated, DataLinkCreated
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate
from libs.contracts.studio_state import State
from libs.datalinks.credentials import CredentialStore
from libs.eventstore import EventStore, Expected, to_new_events
from services.lifecycle.backends.fake import FakeBackend
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.datalinks.copies import S3Copies
from services.lifecycle.datalinks.links import DataLinks
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create

SECRET = "pod-secret-key"


async def _start(store: EventStore, tmp_path: Path, kube: FakeBackend, credentials_id: str | None) -> State:
    env_id, link_id = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    env = ComputeEnvCreated(compute_env_id=env_id, workspace_id=1, name=env_id, platform="k8s-platform",
                            config={}, at=datetime.now(UTC), actor="1")
    await store.append(identity.stream(identity.COMPUTE_ENV, env_id), to_new_events([env]), Expected.NO_STREAM)
    link = DataLinkCreated(data_link_id=link_id, workspace_id=1, name="ref", resource_ref="s3://lab/ref",
                           provider="aws", credentials_id=credentials_id, at=datetime.now(UTC), actor="1")
    await store.append(identity.stream(identity.DATA_LINK, link_id), to_new_events([link]), Expected.NO_STREAM)
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"lab": {"accessKey": "AK", "secretKey": SECRET, "endpoint": "http://s3:9000"}}))
    creds.chmod(0o600)
    datalinks = DataLinks(S3Copies(tmp_path / "copies", 7 * 1024**2), CredentialStore(creds))
    handlers = StudioHandlers(store)
    routing = RoutingBackend({"local": FakeBackend(), "kubernetes": kube}, tmp_path / "state" / "logs")
    provisioner = Provisioner(store, tmp_path / "ws", b"k" * 32, backends=frozenset({"local", "kubernetes"}),
                              datalinks=datalinks)
    runner = SessionRunner(handlers, routing, provisioner)
    cmd = create("linked", template=StudioTemplate(repository="registry/tool:1", tool="http-echo"),
                 configuration=StudioConfiguration(mount_data=(link_id,)))
    await handlers.handle(cmd.model_copy(update={"compute_env_id": env_id}))
    runner.start(cmd.session_id, 1)
    await runner.drain()
    return await handlers.state(cmd.session_id)


async def test_an_s3_link_reaches_the_pod_as_a_link_it_syncs_not_as_a_host_copy(store: EventStore,
                                                                               tmp_path: Path) -> None:
    kube = FakeBackend()
    state = await _start(store, tmp_path, kube, "lab")
    assert state.status is StudioStatus.RUNNING
    [spec] = kube.launched
    [link] = spec.pod_links
    assert (link.name, link.ref, link.limit_mb) == ("ref", "s3://lab/ref", 7)
    assert link.target.endswith("/data/ref")
    assert link.access.credentials is not None and link.access.credentials.secret_key == SECRET
    assert spec.read_only_mounts == ()  # no hostPath of lifecycle's copy
    assert not (tmp_path / "copies").exists()  # nothing fetched on lifecycle's host
    events = json.dumps([r.data for r in await store.read_stream(identity.stream("studio", state.session_id))],
                        default=str)
    assert SECRET not in events


async def test_a_private_link_without_credentials_fails_the_start_naming_it(store: EventStore,
                                                                            tmp_path: Path) -> None:
    kube = FakeBackend()
    state = await _start(store, tmp_path, kube, None)
    assert state.status is StudioStatus.ERRORED
    assert "data link ref" in (state.status_message or "")
    assert kube.launched == []
