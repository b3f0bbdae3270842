"""KubernetesBackend: each run is a Pod and a Service in one namespace; each studio has a PersistentVolumeClaim.

- Objects: ``kube_objects`` (pure, schema-checked). The Pod is named ``studios-<run key>`` (a retried launch finds it
  instead of making a second), labelled ``studios.studio``/``studios.session``/``studios.owner``/``studios.scope``
  and annotated with the exact ids; ``list_sessions`` finds live pods by the scope label, so a restarted lifecycle
  adopts them. The Service is owned by the Pod (the cluster removes it with the pod); the claim is the studio's
  workspace and outlives every run, until the studio is deleted (``forget_workspace``).
- Placement: the compute environment's config (``kube_pods.placement``): node selectors, tolerations, spot as a
  node selector plus its toleration, the pods' service account, the claim's storage class.
- Starting: ``ready`` follows the pod's events and status (``kube_events.start_progress``), hands each new line
  to ``report`` (lifecycle shows it on the start's waiting step) and gives up at once when the container cannot
  start (a bad image, OOMKilled), so the start fails with that reason. Readiness is the pod's Ready condition (its
  tcp probe on the tool port): lifecycle may run outside the cluster, where the Service's address does not resolve.
- Output: the pod's log, followed into ``log_path(session)``, the file lifecycle's session-log follower sends to
  the logs service, as for the other backends. Usage: ``metrics.k8s.io`` where served, sampled while lifecycle
  watches the run; else None.
- Stop: delete with ``gracePeriodSeconds`` (SIGTERM, SIGKILL after the grace), watched until gone; its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from libs.kube import connect, reason
from services.lifecycle.backends import kube_links as links
from services.lifecycle.backends import kube_objects as objects
from services.lifecycle.backends import kube_pods as pods
from services.lifecycle.backends.base import Handle, LaunchError, LaunchSpec, SessionState, Status, Usage
from services.lifecycle.backends.kube_api import Api
from services.lifecycle.backends.kube_events import StartProgress, start_progress
from services.lifecycle.backends.output import Copy, EngineLogs
from services.lifecycle.backends.usage import Meter

log = logging.getLogger("studios.lifecycle.kubernetes")
#: (run key, what the start shows now): lifecycle records it on the start's waiting step
ProgressReport = Callable[[str, StartProgress], Awaitable[None]]
POLL = 1.0
SAMPLE_EVERY = 15.0  # metrics-server's own resolution; more often only repeats a reading


@dataclass
class _Cpu:
    """metrics.k8s.io gives a rate; the meter wants cumulative cpu seconds, so readings are integrated."""

    at: float
    seconds: float = 0.0


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, state_dir: Path, namespace: str = "studios", *, kubeconfig: str | None = None,
                 context: str | None = None, grace: float = 30.0, scope: str = "studios",
                 default_image: str | None = None, placement: objects.KubePlacement | None = None,
                 report: ProgressReport | None = None, sync_image: str = links.DEFAULT_SYNC_IMAGE) -> None:
        self.sync_image = sync_image  # runs the init containers that sync s3:// links (kube_links.py)
        self.state_dir, self.namespace, self.grace, self.scope = state_dir, namespace, grace, scope
        self.kubeconfig, self.context, self.default_image, self.report = kubeconfig, context, default_image, report
        self.defaults = placement or objects.KubePlacement(namespace=namespace)
        self._api: Api | None = None  # made on first use: loading the config needs a running loop
        self._meters: dict[str, tuple[Meter, _Cpu]] = {}
        self._final: dict[str, Usage] = {}
        self.logs = EngineLogs(state_dir / "logs")

    async def api(self) -> Api:
        if self._api is None:
            self._api = Api(await connect(self.kubeconfig, self.context), self.namespace)
        return self._api

    async def close(self) -> None:
        self.logs.close()
        if self._api is not None:
            await self._api.api.close()

    def log_path(self, session_id: str) -> Path:
        return self.logs.path(session_id)

    # -- the port ---------------------------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> Handle:
        image = spec.image or self.default_image
        if image is None:
            raise LaunchError(f"session {spec.session_id}: the template names no image for the kubernetes backend")
        place = pods.placement(spec.compute_config, self.namespace, self.defaults)
        secret = links.link_secret(spec, place.namespace)  # s3:// links' keys, by reference in the pod
        pod = links.with_links(objects.pod(spec, image, place, self.scope, self.grace),  # ValueError: unknown tool
                               spec, self.sync_image, secret["metadata"]["name"] if secret else None)
        api = await self.api()
        created: dict[str, Any] | None = None
        try:
            existing = await api.pod(pod["metadata"]["name"])
            if existing is not None and pods.status_of(existing).running:
                return self._adopt(existing)  # a retried launch must not start a second copy
            if existing is not None:  # an ended earlier attempt of this run: its name is in the way
                await api.delete_pod(existing["metadata"]["name"], 0)
                await api.until_gone(existing["metadata"]["name"], 60)
            await api.create("PersistentVolumeClaim", objects.claim(spec, place))  # None: the studio has one
            if secret is not None:  # before the pod, or its init containers could not start (a failed start)
                if await api.create("Secret", secret) is None:
                    await api.replace_secret(secret)  # an earlier attempt's: this run's keys now
            created = await api.create("Pod", pod)
            if created is None:  # a concurrent launch of this run made it first: that one is the session
                raced = await api.pod(pod["metadata"]["name"])
                if raced is None:
                    raise LaunchError(f"session {spec.session_id}: its pod vanished while it was launched")
                return self._adopt(raced)
            await api.create("Service", pods.owned_by(objects.service(spec, place, self.scope), created))
            if secret is not None:  # the cluster deletes it with the pod
                await api.replace_secret(pods.owned_by(secret, created))
        except (ApiException, LaunchError) as error:
            if secret is not None and created is None:
                await api.delete_secret(secret["metadata"]["name"])  # no pod owns it: it would stay
            if isinstance(error, LaunchError):
                raise
            raise LaunchError(f"cannot start session {spec.session_id} on the cluster: {reason(error)}") from error
        return self._adopt(created, describe(spec, place))

    async def ready(self, handle: Handle, timeout: float) -> bool:
        api = await self.api()
        loop = asyncio.get_running_loop()
        deadline, shown = loop.time() + timeout, None
        while (pod := await api.pod(handle.ident)) is not None and not pods.ended(pod):
            progress = start_progress(pod, await api.events(handle.ident))
            if progress != shown and self.report is not None:
                with contextlib.suppress(Exception):  # a progress line is never worth a failed start
                    await self.report(handle.session_id, progress)
            shown = progress
            if progress.failure is not None:
                return False  # inspect says why; the runner stops the pod
            if pods.is_ready(pod):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(POLL)
        return False

    async def inspect(self, handle: Handle) -> Status:
        pod = await (await self.api()).pod(handle.ident)
        if pod is not None and not pods.ended(pod) and (failure := start_progress(pod, ()).failure):
            return Status(SessionState.EXITED, None, failure)  # it will not start: a pod stuck, not a session
        status = pods.status_of(pod)
        if status.state is SessionState.EXITED and pod is not None:
            return pods.status_of(pod, await (await self.api()).last_lines(handle.ident))
        return status

    async def wait(self, handle: Handle) -> Status:
        api = await self.api()
        if await api.pod(handle.ident) is None:
            return Status(SessionState.MISSING)
        sampler = asyncio.ensure_future(self._sample_every(handle))
        try:
            await api.until(handle.ident, pods.ended)
        finally:
            sampler.cancel()
        return await self.inspect(handle)

    async def usage(self, handle: Handle) -> Usage | None:
        if handle.session_id in self._final:
            return self._final.pop(handle.session_id)
        if await (await self.api()).pod(handle.ident) is None:
            return None
        return await self._sample(handle)

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        api = await self.api()
        if await api.pod(handle.ident) is None:
            return None
        last_usage = await self._sample(handle)
        seconds = self.grace if grace is None else grace
        await api.delete_pod(handle.ident, seconds)
        last = await api.until_gone(handle.ident, seconds + 60)
        await self.logs.finish(handle.session_id)
        if last_usage is not None:
            self._final[handle.session_id] = last_usage
        self._meters.pop(handle.session_id, None)
        return pods.exit_code(last) if last is not None else None

    async def list_sessions(self) -> list[Handle]:
        api = await self.api()
        found = await api.pods(pods.selector_string(pods.scope_selector(self.scope)), pods.LIVE_PODS)
        return [self._adopt(pod) for pod in found if pods.status_of(pod).running]

    async def forget_workspace(self, studio_id: str, workspace_dir: Path) -> bool:
        """A deleted studio's claim, deleted: its volume goes as the storage class's reclaim policy says."""
        await (await self.api()).delete_claim(objects.claim_name(studio_id))
        return True

    async def output(self, handle: Handle) -> AsyncIterator[bytes]:
        async def present() -> bool:
            return await (await self.api()).pod(handle.ident) is not None

        async for chunk in self.logs.follow(handle.session_id, self._copy(handle), present):
            yield chunk

    # -- helpers ----------------------------------------------------------------------------------------------

    def _adopt(self, pod: dict[str, object], limits: str = "") -> Handle:
        handle = pods.handle_of(pod, self.name, limits)
        self.logs.ensure(handle.session_id, self._copy(handle))
        return handle

    def _copy(self, handle: Handle) -> Copy:
        async def copy(path: Path) -> None:
            await (await self.api()).copy_log(handle.ident, path)

        return copy

    async def _sample(self, handle: Handle) -> Usage | None:
        """One reading added to the run's meter; None while no reading was ever had (no metrics API, too soon)."""
        metrics = await (await self.api()).pod_metrics(handle.ident)
        now = time.time()
        if metrics is not None:
            cores, memory = pods.metrics_reading(metrics)
            meter, cpu = self._meters.setdefault(handle.session_id, (Meter(started_at=handle.started_at),
                                                                     _Cpu(at=handle.started_at)))
            cpu.seconds, cpu.at = cpu.seconds + cores * max(0.0, now - cpu.at), now
            meter.add(now, cpu.seconds, memory)
        return self._meters[handle.session_id][0].usage() if handle.session_id in self._meters else None

    async def _sample_every(self, handle: Handle) -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            with contextlib.suppress(ApiException):
                await self._sample(handle)


def describe(spec: LaunchSpec, place: objects.KubePlacement) -> str:
    """The launch step's line: what the pod asked for and where it may run."""
    parts = [f"{spec.cpu} cpu" if spec.cpu else "", f"{spec.memory_mib} MiB" if spec.memory_mib else "",
             f"{spec.gpu} {objects.GPU_RESOURCE}" if spec.gpu else ""]
    asked = ", ".join(p for p in parts if p)
    text = f"pod requests = limits: {asked}" if asked else "pod without requests or limits"
    selector = {**place.node_selector, **(place.spot_selector if spec.spot else {})}
    if selector:
        text += "; nodes " + ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return f"{text}; namespace {place.namespace}"

