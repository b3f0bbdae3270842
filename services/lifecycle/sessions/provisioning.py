"""Preparing a session before its tool starts: the workspace folder, the git repository, the data links.

What lifecycle knows of compute environments and data links it learns from their events (streams owned by the
gateway), read from the store; it never reads the gateway's tables.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from libs.contracts import identity
from libs.contracts.studio_state import State
from libs.datalinks.credentials import CredentialStore
from libs.eventstore import EventStore
from libs.platform.session_keys import session_secret
from services.lifecycle.backends import mounts
from services.lifecycle.backends.base import LaunchSpec
from services.lifecycle.datalinks.copies import CopyError, Report, S3Copies
from services.lifecycle.datalinks.links import DEFAULT_COPY_LIMIT_MB, DataLinks, Link
from services.lifecycle.datalinks.sync import PodLink, pod_link

log = logging.getLogger("studios.lifecycle.provisioning")


class ProvisioningError(Exception):
    pass


#: the backend each compute-environment platform runs on (docs/backends.md)
PLATFORM_BACKENDS = {"local-platform": "local", "docker-platform": "docker", "k8s-platform": "kubernetes"}


class Provisioner:
    def __init__(self, store: EventStore, workspaces: Path, session_key: bytes,
                 backends: frozenset[str] = frozenset({"local"}), datalinks: DataLinks | None = None) -> None:
        self.store = store
        # s3:// links are copied under lifecycle's state folder (services/lifecycle/datalinks), read-only
        self.datalinks = datalinks or DataLinks(
            S3Copies(workspaces.parent / "lifecycle" / "datalinks", DEFAULT_COPY_LIMIT_MB * 1024**2),
            CredentialStore(None))
        self.backends = backends  # the backends this lifecycle runs: a platform without one is refused
        self.workspaces = workspaces
        self.session_key = session_key
        self._mounts: dict[str, tuple[tuple[str, str], ...]] = {}  # by run key: checked in mount(), used at launch

    def secret(self, state: State) -> str:
        """The run's secret, derived rather than stored, so a restarted lifecycle that adopts a live process
        still knows it. The gateway proxy derives the same value from the same key; it is in no event."""
        return session_secret(self.session_key, state.run_key)

    def workspace(self, state: State) -> Path:
        return self.workspaces / state.session_id

    async def _stream_data(self, stream: str, event_type: str) -> dict[str, object] | None:
        for record in await self.store.read_stream(stream):
            if record.event_type == event_type:
                return record.data
        return None

    async def backend_for(self, state: State) -> str:
        """The backend the studio's compute environment runs on; a platform this lifecycle cannot run on is
        refused, never quietly run as local processes."""
        env = await self._stream_data(identity.stream(identity.COMPUTE_ENV, state.compute_env_id),
                                      "ComputeEnvCreated")
        platform = str(env.get("platform", "local-platform")) if env is not None else "local-platform"
        backend = PLATFORM_BACKENDS.get(platform)
        if backend is None or backend not in self.backends:
            hints = {"docker": " (set STUDIOS_DOCKER_HOST to a Docker engine)",
                     "kubernetes": " (set STUDIOS_KUBE_NAMESPACE to the namespace its pods run in)"}
            hint = hints.get(backend or "", "")
            raise ProvisioningError(f"compute environment {state.compute_env_id} is {platform}, which this "
                                    f"installation cannot run: it runs {sorted(self.backends)}{hint}")
        return backend

    async def compute_config(self, state: State) -> dict[str, object]:
        """The compute environment's config (Seqera's ComputeConfig): where the kubernetes backend places pods."""
        env = await self._stream_data(identity.stream(identity.COMPUTE_ENV, state.compute_env_id),
                                      "ComputeEnvCreated")
        config = env.get("config") if env is not None else None
        return dict(config) if isinstance(config, dict) else {}

    async def provision(self, state: State) -> None:
        await self.backend_for(state)  # first: a start on a platform we cannot run fails before anything is made
        ws = self.workspace(state)
        ws.mkdir(parents=True, exist_ok=True)
        if state.template and state.template.tool == "custom":
            await self._check_custom_allowed(state)
        if state.remote_config:
            await self._clone(state, ws)

    async def _check_custom_allowed(self, state: State) -> None:
        env = await self._stream_data(identity.stream(identity.COMPUTE_ENV, state.compute_env_id),
                                      "ComputeEnvCreated")
        if env is not None and not env.get("allow_custom_commands", False):
            raise ProvisioningError(f"compute environment {state.compute_env_id} does not allow custom commands")
        if not state.configuration.command:
            raise ProvisioningError("the custom tool needs configuration.command")

    async def _clone(self, state: State, ws: Path) -> None:
        rc = state.remote_config
        assert rc is not None
        target = ws / (Path(urlsplit(rc.repository).path).stem or "repository")
        if not target.exists():
            await _run("git", "clone", "--quiet", rc.repository, str(target))
        ref = rc.commit_id or rc.revision
        if ref:
            await _run("git", "-C", str(target), "checkout", "--quiet", ref)

    async def mount(self, state: State, report: Report | None = None) -> tuple[str, ...]:
        """Check every data link can be shown under ``<workspace>/data/<name>``, copying ``s3://`` ones (their
        progress goes to ``report``); the backend mounts them read-only at launch. Returns the step's warnings."""
        warnings: list[str] = []
        env = await self._stream_data(identity.stream(identity.COMPUTE_ENV, state.compute_env_id),
                                      "ComputeEnvCreated")
        env_credentials = str(env["credentials_id"]) if env and env.get("credentials_id") else None
        in_pod = await self.backend_for(state) == "kubernetes"  # the pod syncs s3:// links itself
        for link in await self._links(state):
            try:
                if in_pod and link.scheme == "s3":
                    pod_link(self.datalinks, link, env_credentials, "")  # its credentials checked now
                    continue
                synced = await self.datalinks.prepare(state.session_id, link, env_credentials, report)
            except CopyError as e:
                raise ProvisioningError(str(e)) from e
            if synced is not None:
                log.info("studio %s: %s", state.session_id, synced.line())
                warnings += [w for w in (synced.warning(),) if w]
        self._mounts[state.run_key] = await self.data_links(state)
        local = await self.backend_for(state) == "local"  # containers always mount them read-only
        if state.configuration.mount_data and local and not mounts.can_mount():
            warnings.append(mounts.SYMLINK_WARNING)
        return tuple(warnings)

    async def _links(self, state: State) -> list[Link]:
        found = []
        for link_id in state.configuration.mount_data:
            link = await self._stream_data(identity.stream(identity.DATA_LINK, link_id), "DataLinkCreated")
            if link is None:
                raise ProvisioningError(f"data link {link_id} not found")
            found.append(Link.of(link_id, link))
        return found

    async def data_links(self, state: State) -> tuple[tuple[str, str], ...]:
        """(folder of this host, where the session sees it) per link; an ``s3://`` link's folder is its copy."""
        found = []
        in_pod = await self.backend_for(state) == "kubernetes"
        for link in await self._links(state):
            if in_pod and link.scheme == "s3":
                continue  # synced by the pod: pod_links
            try:
                source = self.datalinks.source(state.session_id, link)
            except CopyError as e:
                raise ProvisioningError(str(e)) from e
            found.append((str(source), str(self.workspace(state) / "data" / link.name)))
        return tuple(found)

    async def pod_links(self, state: State) -> tuple[PodLink, ...]:
        """The ``s3://`` links a kubernetes pod syncs itself (init containers); none for other backends."""
        if await self.backend_for(state) != "kubernetes":
            return ()
        env = await self._stream_data(identity.stream(identity.COMPUTE_ENV, state.compute_env_id),
                                      "ComputeEnvCreated")
        env_credentials = str(env["credentials_id"]) if env and env.get("credentials_id") else None
        try:
            return tuple(pod_link(self.datalinks, link, env_credentials,
                                  str(self.workspace(state) / "data" / link.name))
                         for link in await self._links(state) if link.scheme == "s3")
        except CopyError as e:
            raise ProvisioningError(str(e)) from e

    async def launch_spec(self, state: State) -> LaunchSpec:
        assert state.template is not None
        cfg = state.configuration
        return LaunchSpec(
            session_id=state.run_key,
            studio_id=state.session_id,
            tool=state.template.tool,
            command=list(cfg.command) if cfg.command else None,
            environment=dict(cfg.environment),
            workspace_dir=self.workspace(state),
            cpu=cfg.cpu or None,
            memory_mib=cfg.memory or None,  # an address-space rlimit (with a floor): see backends/local.py
            gpu=cfg.gpu,
            labels={"studio": state.session_id, "workspace": state.workspace_id, "user": state.user_id},
            base_path=f"/connect/{state.session_id}/",
            secret=self.secret(state),
            read_only_mounts=self._mounts.pop(state.run_key, ()) or await self.data_links(state),
            pod_links=await self.pod_links(state),
            image=state.template.repository,
            spot=state.spot,
            backend=await self.backend_for(state),
            compute_config=await self.compute_config(state),
        )


async def resolve_commit(repository: str, revision: str | None) -> str:
    """The commit a branch, tag or HEAD names now, so a studio is pinned to what its creator saw."""
    out = await _run("git", "ls-remote", "--", repository, revision or "HEAD", timeout=30)
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if sha and (revision is None or ref.endswith(revision) or ref == "HEAD"):
            return sha
    if revision and len(revision) >= 7 and all(c in "0123456789abcdef" for c in revision.lower()):
        return revision  # already a commit id: ls-remote lists refs only
    raise ProvisioningError(f"{repository} has no revision {revision or 'HEAD'}")


async def _run(*args: str, timeout: float = 600) -> str:
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT,
                                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        raise ProvisioningError(f"{' '.join(args[:2])} took longer than {timeout:.0f}s") from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise ProvisioningError(f"{' '.join(args[:2])} failed: {text.strip()[-500:]}")
    return text
