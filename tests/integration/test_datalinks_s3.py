"""``s3://`` data links against a real S3-compatible server the tests start (moto in server mode, checking every
request's signature): browsed page by page through the real gateway over HTTP, and copied read-only into a
session on the local backend (re-used across starts) and bind-mounted read-only into a Docker container (a real
engine: DOCKER_HOST or a private podman, skipped with the reason without one), with the size limit and a refused
credential failing the start with a message that names the link."""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import nats
import pytest

from libs.bus.streams import Topology, delete_streams
from libs.contracts.identity import ComputeEnvCreated, DataLinkCreated
from libs.contracts.identity import stream as identity_stream
from libs.contracts.studio import StudioConfiguration, StudioStatus, StudioTemplate, stream_name
from libs.contracts.studio_commands import DeleteStudio, StartStudio, StopStudio
from libs.datalinks.credentials import CredentialStore
from libs.eventstore import EventStore, Expected, to_new_events
from libs.testing.podman import Engine
from libs.testing.s3 import iam_keys, moto_server, require_auth
from libs.testing.seqera_schema import checked_client_hooks
from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings
from services.lifecycle.backends import mounts
from services.lifecycle.backends.docker import DockerBackend
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.backends.routing import RoutingBackend
from services.lifecycle.datalinks.copies import S3Copies
from services.lifecycle.datalinks.links import DataLinks
from services.lifecycle.handlers import StudioHandlers
from services.lifecycle.sessions.provisioning import Provisioner
from services.lifecycle.sessions.reconciler import Reconciler
from services.lifecycle.sessions.runner import SessionRunner
from tests.integration.lifecycle_harness import create
from tests.integration.proxy_helpers import serve

BUCKET = "lab-data"
REF = {f"ref/file{i}.txt": f"row {i}\n" for i in range(5)} | {"ref/sub/deep.txt": "deep\n"}


@dataclass
class Bucket:
    endpoint: str
    keys: tuple[str, str]
    client: Any

    def credentials(self, path: Path) -> Path:
        """The operator's credentials file: good keys for workspace 1, a wrong secret, keys for another one."""
        good = {"accessKey": self.keys[0], "secretKey": self.keys[1], "endpoint": self.endpoint}
        entries = {"lab": good | {"workspaces": [1]}, "bad": good | {"secretKey": "not-the-secret"},
                   "elsewhere": good | {"workspaces": [99]}}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries))
        path.chmod(0o600)
        return path


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    with moto_server() as endpoint:
        keys = iam_keys(endpoint, "lab")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=keys[0],
                              aws_secret_access_key=keys[1])
        client.create_bucket(Bucket=BUCKET)
        for key, body in REF.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        require_auth(endpoint)  # from here on a wrong secret is refused, as AWS refuses it
        yield Bucket(endpoint, keys, client)


# -- browsing through the gateway ------------------------------------------------------------------------------

@pytest.fixture
async def gateway(database_url: str, nats_url: str, tmp_path: Path,
                  bucket: Bucket) -> AsyncIterator[httpx.AsyncClient]:
    data, token = tmp_path / "data", f"adm-{secrets.token_hex(8)}"
    bucket.credentials(data / "credentials.json")  # the default place: <data dir>/credentials.json
    settings = GatewaySettings(DATABASE_URL=database_url, NATS_URL=nats_url, STUDIOS_DATA_DIR=str(data),
                               STUDIOS_ADMIN_TOKEN=token, STUDIOS_CONNECT_MODE="path")
    topology = Topology.unique("dl")
    try:
        async with serve(create_app(settings, topology)) as address, \
                httpx.AsyncClient(base_url=f"http://{address}", headers={"Authorization": f"Bearer {token}"},
                                  timeout=30, event_hooks=checked_client_hooks()) as http:  # Seqera's schemas
            yield http
    finally:
        nc = await nats.connect(nats_url)
        await delete_streams(nc.jetstream(), topology)
        await nc.close()


async def _link(http: httpx.AsyncClient, name: str, ref: str, **body: Any) -> str:
    r = await http.post("/data-links", params={"workspaceId": 1}, json={"name": name, "resourceRef": ref, **body})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_an_s3_link_is_browsed_page_by_page_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    link = await _link(gateway, "ref", f"s3://{BUCKET}/ref", credentialsId="lab")
    pages, token = [], None
    while True:
        params = {"pageSize": 2} | ({"nextPageToken": token} if token else {})
        r = await gateway.get(f"/data-links/{link}/browse", params=params)
        assert r.status_code == 200, r.text
        pages.append([(o["type"], o["name"], o["size"]) for o in r.json()["objects"]])
        token = r.json().get("nextPageToken")
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 2]
    assert sorted(x for p in pages for x in p) == [("FILE", f"file{i}.txt", 6) for i in range(5)] + [
        ("FOLDER", "sub", 0)]
    r = await gateway.get(f"/data-links/{link}/browse/sub")
    assert r.json()["objects"] == [{"type": "FILE", "name": "deep.txt", "size": 5, "mimeType": "text/plain"}]
    assert r.json()["originalPath"] == "sub"
    r = await gateway.get(f"/data-links/{link}/browse", params={"search": "file3"})
    assert [o["name"] for o in r.json()["objects"]] == ["file3.txt"]
    assert (await gateway.get(f"/data-links/{link}/browse/missing")).status_code == 404
    assert (await gateway.get(f"/data-links/{link}/browse/..%2F..")).status_code == 400


async def test_refused_or_missing_credentials_are_clear_errors_when_browsing(gateway: httpx.AsyncClient) -> None:
    bad = await _link(gateway, "bad", f"s3://{BUCKET}/ref", credentialsId="bad")
    r = await gateway.get(f"/data-links/{bad}/browse")
    assert r.status_code == 403 and "refused credentials 'bad'" in r.json()["message"], r.text
    assert "SignatureDoesNotMatch" in r.json()["message"]
    private = await _link(gateway, "private", f"s3://{BUCKET}/ref")
    r = await gateway.get(f"/data-links/{private}/browse")
    assert r.status_code == 403 and "names no credentials" in r.json()["message"]
    # an entry of another workspace is not found: neither when a link names it, nor when a browse does
    body = {"name": "elsewhere", "resourceRef": f"s3://{BUCKET}/ref", "credentialsId": "elsewhere"}
    r = await gateway.post("/data-links", params={"workspaceId": 1}, json=body)
    assert r.status_code == 404 and "credentials 'elsewhere' not found" in r.json()["message"]
    r = await gateway.get(f"/data-links/{private}/browse", params={"credentialsId": "elsewhere"})
    assert r.status_code == 404 and "credentials 'elsewhere' not found" in r.json()["message"]
    r = await gateway.get(f"/data-links/{private}/browse", params={"credentialsId": "lab"})
    assert r.status_code == 200 and len(r.json()["objects"]) == 6  # Seqera's credentialsId: browse with these


async def test_a_user_outside_the_workspace_cannot_browse_its_link(gateway: httpx.AsyncClient) -> None:
    link = await _link(gateway, "ref", f"s3://{BUCKET}/ref", credentialsId="lab")
    r = await gateway.post("/users", json={"userName": "ada", "email": "ada@example.org"})
    uid = r.json()["user"]["id"]
    outsider = (await gateway.post(f"/users/{uid}/tokens", json={"name": "t"})).json()["accessKey"]
    for path in ("browse", "browse/sub"):
        r = await gateway.get(f"/data-links/{link}/{path}", headers={"Authorization": f"Bearer {outsider}"})
        assert r.status_code == 403, r.text  # as every other resource of a workspace the user is not in
        assert "objects" not in r.json()


# -- sessions on the local backend -----------------------------------------------------------------------------

PROBE = ("cat data/ref/file0.txt data/ref/sub/deep.txt > seen.txt; "
         "(touch data/ref/new && echo wrote || echo refused) > write.txt; "
         "(echo x >> data/ref/file1.txt && echo wrote || echo refused) > modify.txt; "
         "exec python -m http.server --bind 127.0.0.1 $CONNECT_TOOL_PORT")


@dataclass
class Session:
    handlers: StudioHandlers
    runner: SessionRunner
    backend: LocalBackend
    copies: S3Copies
    workspaces: Path


@pytest.fixture
async def session(store: EventStore, tmp_path: Path, bucket: Bucket,
                  request: pytest.FixtureRequest) -> AsyncIterator[Session]:
    limit_mb = getattr(request, "param", 64)
    copies = S3Copies(tmp_path / "copies", limit_mb * 1024**2)
    datalinks = DataLinks(copies, CredentialStore(bucket.credentials(tmp_path / "credentials.json")))
    handlers, backend = StudioHandlers(store), LocalBackend(tmp_path / "state", grace=2)
    provisioner = Provisioner(store, tmp_path / "ws", b"k" * 32, datalinks=datalinks)
    try:
        yield Session(handlers, SessionRunner(handlers, backend, provisioner), backend, copies, tmp_path / "ws")
    finally:
        for handle in await backend.list_sessions():
            await backend.stop(handle, grace=2)


async def _add_link(store: EventStore, link_id: str, prefix: str, credentials_id: str) -> None:
    link = DataLinkCreated(data_link_id=link_id, workspace_id=1, name="ref", resource_ref=f"s3://{BUCKET}/{prefix}",
                           provider="aws", credentials_id=credentials_id, at=datetime.now(UTC), actor="1")
    await store.append(identity_stream("datalink", link_id), to_new_events([link]), Expected.NO_STREAM)


async def _start(s: Session, link_id: str, command: str = PROBE) -> str:
    cmd = create("s3-linked", template=StudioTemplate(repository="studios/custom:1", tool="custom"),
                 configuration=StudioConfiguration(mount_data=(link_id,), command=("sh", "-c", command)))
    await s.handlers.handle(cmd)
    s.runner.start(cmd.session_id, 1)
    await s.runner.drain()
    return cmd.session_id


async def _sync_details(store: EventStore, sid: str) -> list[str]:
    return [str(r.data.get("detail")) for r in await store.read_stream(stream_name(sid))
            if r.event_type == "StudioProgressRecorded" and r.data.get("step") == "Mounting data links"
            and str(r.data.get("detail") or "").startswith("Syncing data link ref")]


async def test_a_studio_sees_an_s3_link_read_only_and_a_restart_fetches_only_what_changed(
        store: EventStore, session: Session, bucket: Bucket) -> None:
    prefix = f"run-{secrets.token_hex(4)}"
    for key, body in REF.items():
        bucket.client.put_object(Bucket=BUCKET, Key=f"{prefix}/{key.removeprefix('ref/')}", Body=body.encode())
    await _add_link(store, "dl-run", prefix, "lab")
    sid = await _start(session, "dl-run")
    state = await session.handlers.state(sid)
    assert state.status is StudioStatus.RUNNING, state.status_message
    ws = session.workspaces / sid
    assert (ws / "seen.txt").read_text() == "row 0\ndeep\n"
    # read-only: a bind mount where lifecycle may make one, else files 0444 in folders 0555 (root ignores modes)
    held = mounts.can_mount() or os.geteuid() != 0
    assert (ws / "write.txt").read_text().strip() == ("refused" if held else "wrote")
    assert (ws / "modify.txt").read_text().strip() == ("refused" if held else "wrote")
    copy = session.copies.folder(sid, "dl-run")
    assert stat.S_IMODE((copy / "file2.txt").stat().st_mode) == 0o444
    assert stat.S_IMODE((copy / "sub").stat().st_mode) == 0o555
    assert (await _sync_details(store, sid))[0].startswith("Syncing data link ref: 6 file(s) to fetch")
    inode = (copy / "file2.txt").stat().st_ino

    await session.handlers.handle(StopStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
    session.runner.stop(sid, 1)
    await session.runner.drain()
    bucket.client.put_object(Bucket=BUCKET, Key=f"{prefix}/file0.txt", Body=b"row 0, changed\n")
    bucket.client.delete_object(Bucket=BUCKET, Key=f"{prefix}/file4.txt")
    await session.handlers.handle(StartStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
    session.runner.start(sid, 2)
    await session.runner.drain()
    state = await session.handlers.state(sid)
    assert state.status is StudioStatus.RUNNING, state.status_message
    assert (await _sync_details(store, sid))[-2].startswith("Syncing data link ref: 1 file(s) to fetch")
    assert (ws / "seen.txt").read_text() == "row 0, changed\ndeep\n"
    assert (copy / "file2.txt").stat().st_ino == inode  # unchanged: not fetched again
    assert not (copy / "file4.txt").exists()

    # deleted: the reconciler's next pass gives the copy's disk back, and leaves other studios' copies alone
    other = session.copies.folder("another-studio", "dl-run")
    other.mkdir(parents=True)
    await session.handlers.handle(StopStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
    session.runner.stop(sid, 2)
    await session.runner.drain()
    await session.handlers.handle(DeleteStudio(session_id=sid, now=datetime.now(UTC), actor="1"))
    await Reconciler(store, session.handlers, session.runner, session.backend).run_once()
    assert not copy.parent.exists() and other.is_dir()


@pytest.mark.parametrize(("session", "credentials_id", "expected"), [
    pytest.param(0, "lab", ["data link ref", "more than the 0.0 MiB", "STUDIOS_DATALINK_COPY_MAX_MB"],
                 id="over-the-size-limit"),
    pytest.param(64, "bad", ["data link ref", "refused credentials 'bad'", "SignatureDoesNotMatch"],
                 id="refused-credentials"),
], indirect=["session"])
async def test_a_link_that_cannot_be_copied_fails_the_start_naming_it(
        store: EventStore, session: Session, credentials_id: str, expected: list[str]) -> None:
    await _add_link(store, "dl-refused", "ref", credentials_id)
    sid = await _start(session, "dl-refused")
    state = await session.handlers.state(sid)
    assert state.status is StudioStatus.ERRORED
    message = state.status_message or ""
    assert message.startswith("Mounting data links: ") and all(e in message for e in expected), message
    assert not any(session.copies.folder(sid, "dl-refused").glob("*"))  # nothing was fetched
    assert await session.backend.list_sessions() == []


# -- sessions on a Docker engine -------------------------------------------------------------------------------

IN_CONTAINER = ("cat /workspace/data/ref/file0.txt > /workspace/seen.txt; "
                "(touch /workspace/data/ref/new && echo wrote || echo refused) > /workspace/write.txt; "
                'exec busybox httpd -f -p "$CONNECT_TOOL_PORT" -h /workspace')


async def test_a_docker_studio_gets_the_s3_copy_bind_mounted_read_only(
        store: EventStore, tmp_path: Path, bucket: Bucket, docker_engine: Engine) -> None:
    env = ComputeEnvCreated(compute_env_id="ce-docker", workspace_id=1, name="docker", platform="docker-platform",
                            config={"workDir": "/w"}, allow_custom_commands=True, at=datetime.now(UTC), actor="1")
    await store.append(identity_stream("computeenv", "ce-docker"), to_new_events([env]), Expected.NO_STREAM)
    await _add_link(store, "dl-docker", "ref", "lab")
    copies = S3Copies(tmp_path / "copies", 64 * 1024**2)
    datalinks = DataLinks(copies, CredentialStore(bucket.credentials(tmp_path / "credentials.json")))
    handlers, docker = StudioHandlers(store), DockerBackend(tmp_path / "state", docker_engine.url, grace=2)
    provisioner = Provisioner(store, tmp_path / "ws", b"k" * 32, backends=frozenset({"local", "docker"}),
                              datalinks=datalinks)
    runner = SessionRunner(handlers, RoutingBackend({"docker": docker}, tmp_path / "state" / "logs"), provisioner)
    cmd = create("s3-in-docker", template=StudioTemplate(repository=docker_engine.image, tool="custom"),
                 configuration=StudioConfiguration(mount_data=("dl-docker",), command=("sh", "-c", IN_CONTAINER)))
    cmd = cmd.model_copy(update={"compute_env_id": "ce-docker"})
    try:
        await handlers.handle(cmd)
        runner.start(cmd.session_id, 1)
        await runner.drain()
        state = await handlers.state(cmd.session_id)
        assert state.status is StudioStatus.RUNNING, state.status_message
        ws = tmp_path / "ws" / cmd.session_id
        # the tool serves only after its probe ran, so a running studio has written both files
        assert (ws / "write.txt").read_text().strip() == "refused"  # root in the container, and still read-only
        assert (ws / "seen.txt").read_text() == "row 0\n"
    finally:
        for handle in await docker.list_sessions():
            await docker.stop(handle, grace=2)
        await docker.close()
