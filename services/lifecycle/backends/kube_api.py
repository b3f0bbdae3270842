"""The Kubernetes API calls ``KubernetesBackend`` composes (kubernetes_asyncio), answering plain dicts.

Objects come back in the API's JSON shape (camelCase), the shape ``kube_pods`` and ``kube_events`` read, so the pure
modules never see the client's model classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from libs.kube import as_json as _json
from libs.kube import reason, refusal
from services.lifecycle.backends import kube_pods as pods
from services.lifecycle.backends.base import LaunchError
from services.lifecycle.backends.output import FollowAgain, append_resumed, held

log = logging.getLogger("studios.lifecycle.kubernetes")


class Api:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.metrics_served: bool | None = None  # learnt on first use

    async def pod(self, name: str) -> dict[str, Any] | None:
        try:
            return await _json(self.core.read_namespaced_pod, name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def pods(self, label_selector: str, field_selector: str) -> list[dict[str, Any]]:
        found = await _json(self.core.list_namespaced_pod, self.namespace, label_selector=label_selector,
                            field_selector=field_selector)
        return list(found.get("items") or ())

    async def events(self, pod_name: str) -> list[dict[str, Any]]:
        found = await _json(self.core.list_namespaced_event, self.namespace, field_selector=pods.pod_events(pod_name))
        return list(found.get("items") or ())

    async def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Pod, Service, claim or Secret; None when one of that name exists already (a retry, a race)."""
        calls: dict[str, Callable[..., Awaitable[Any]]] = {
            "Pod": self.core.create_namespaced_pod, "Service": self.core.create_namespaced_service,
            "PersistentVolumeClaim": self.core.create_namespaced_persistent_volume_claim,
            "Secret": self.core.create_namespaced_secret}
        call = calls[kind]
        try:
            return await _json(call, self.namespace, body)
        except ApiException as error:
            if error.status == 409:
                return None
            raise LaunchError(f"the cluster refused the {kind} {body['metadata']['name']}: {reason(error)}") \
                from error

    async def replace_secret(self, body: dict[str, Any]) -> None:
        """A run's link Secret again, now owned by its pod (its uid is known only once the pod exists)."""
        await _json(self.core.replace_namespaced_secret, body["metadata"]["name"], self.namespace, body)

    async def delete_secret(self, name: str) -> None:
        with contextlib.suppress(ApiException):  # gone already, or never made
            await _json(self.core.delete_namespaced_secret, name, self.namespace)

    async def delete_claim(self, name: str) -> None:
        """A studio's workspace claim; one already gone is no error. A claim a pod still mounts is kept by the
        cluster (its ``kubernetes.io/pvc-protection`` finalizer) until that pod is gone, then deleted."""
        try:
            await _json(self.core.delete_namespaced_persistent_volume_claim, name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise

    async def delete_pod(self, name: str, grace: float) -> None:
        with contextlib.suppress(ApiException):  # gone already
            # the dict the tests check against the schema: the client sends a dict body as it is
            await _json(self.core.delete_namespaced_pod, name, self.namespace, body=pods.delete_options(grace))

    async def until_gone(self, name: str, within: float) -> dict[str, Any] | None:
        """Watch one pod until it is deleted; the last state seen (its exit code), or None if never seen."""
        last = await self.pod(name)
        if last is None:
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while await self.pod(name) is not None:
                    async with _RawWatch() as w:
                        async for event in w.stream(self.core.list_namespaced_pod, self.namespace,
                                                    field_selector=pods.one_pod(name), timeout_seconds=30):
                            last = event["raw_object"]
                            if event["type"] == "DELETED":
                                return last
        return last

    async def until(self, name: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """Watch one pod until ``done(pod)``: that pod, or None once it is gone (the watch re-opened whenever the
        server ends it)."""
        while (pod := await self.pod(name)) is not None and not done(pod):
            async with _RawWatch() as w:
                async for event in w.stream(self.core.list_namespaced_pod, self.namespace,
                                            field_selector=pods.one_pod(name), timeout_seconds=300):
                    if event["type"] == "DELETED":
                        return None
                    if done(event["raw_object"]):
                        return dict(event["raw_object"])
        return pod

    async def last_lines(self, name: str, count: int = 20) -> str:
        try:
            text = await self.core.read_namespaced_pod_log(name, self.namespace, container=pods.CONTAINER,
                                                           tail_lines=count)
        except ApiException:
            return ""
        return str(text).rstrip("\n")

    async def pod_metrics(self, name: str) -> dict[str, Any] | None:
        """The pod's ``metrics.k8s.io`` reading, or None where that API is not served (or has no sample yet)."""
        if self.metrics_served is False:
            return None
        try:
            found = await _json(self.custom.get_namespaced_custom_object, "metrics.k8s.io", "v1beta1",
                                self.namespace, "pods", name)
        except ApiException as error:
            if error.status == 404 and self.metrics_served is None:
                self.metrics_served = await self._metrics_api_served()
            return None
        self.metrics_served = True
        return found

    async def _metrics_api_served(self) -> bool:
        try:
            groups = await client.ApisApi(self.api).get_api_versions()
        except ApiException:
            return False
        return any(group.name == "metrics.k8s.io" for group in groups.groups)

    async def copy_log(self, name: str, path: Path) -> None:
        """The tool's log (stdout and stderr, as the kubelet keeps them: interleaved), appended to ``path`` until
        the container ended and the file holds its whole log. Read from the start each time and the bytes the file
        holds skipped, so a restarted lifecycle (or a follow read again) leaves the file equal to the pod's log,
        with nothing twice.

        A follow's end proves nothing (the API server cuts a long one, a dropped connection ends one early, and a
        broken one raises aiohttp's errors, not the API's): so the log is followed until a read begun after the
        container ended adds nothing to the file, and a broken follow is followed again."""
        path.parent.mkdir(parents=True, exist_ok=True)
        again = FollowAgain(log, f"pod {name}")
        while await self.until(name, _started) is not None:  # no log before the container starts (the API: 400)
            try:
                if (pod := await self.pod(name)) is None:
                    return  # the pod is gone, and its log with it
                ended, before = pods.ended(pod), held(path)
                await self._follow_once(name, path)
                if ended:
                    if held(path) == before:
                        return  # a whole read of the ended container's log found nothing new
                    continue  # that read added bytes, so the one before may have been cut short: read once more
            except ApiException as error:
                if error.status == 404:
                    return
                again.broke(reason(error))
            except (aiohttp.ClientError, asyncio.IncompleteReadError) as error:
                again.broke(repr(error))
            await again.wait()  # the follow ended (or broke) while the tool ran: follow again, not at once

    async def _follow_once(self, name: str, path: Path) -> None:
        response: Any = await self.core.read_namespaced_pod_log(name, self.namespace, container=pods.CONTAINER,
                                                           follow=True, _preload_content=False)
        try:
            if not 200 <= response.status <= 299:
                raise refusal(response, await response.read())
            await append_resumed(path, response.content.iter_any())
        finally:
            response.release()


class _RawWatch(watch.Watch):
    """Watch events as the API's JSON (``raw_object``) only: no model classes on the way in, as ``_json``."""

    def get_return_type(self, func: Any) -> str:
        return ""  # no type to deserialize into


def _started(pod: dict[str, Any]) -> bool:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if {"running", "terminated"} & set(status.get("state") or {}):
            return True
    return pods.ended(pod)
