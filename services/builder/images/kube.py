"""``KubeImages``: a build is a container image made in the cluster by a Kaniko Job, pushed to a registry.

The objects are ``kaniko``'s (pure, schema-checked): a ConfigMap holding the generated Dockerfile and
requirements (the context, mounted into the Kaniko pod) and the Job. The builder creates both, streams the pod's
log to the build's output (as the engine's output for docker builds), waits for the Job's verdict, reads the pushed
digest from the pod's termination message, and deletes the Job (its pod with it) and the ConfigMap whatever the
outcome, a cancelled build too (the Job's TTL removes what a killed builder left). The image is
``<registry>/<repository>:<build id>``: the content hash names it, as for docker builds. A retried attempt whose
Job still exists (the builder was killed under it) watches that Job instead of starting another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from libs.contracts.build import IMAGE_URI, Artifact, BuildSpec, image_reference
from libs.kube import as_json as _json
from libs.kube import connect, reason
from services.builder.environments.base import BuildError, OutputSink
from services.builder.images import dockerfile
from services.builder.images import kaniko as objects

log = logging.getLogger("studios.builder.kubernetes")
_TAIL = 12
_POLL = 2.0  # seconds between reads of a Job's state: a build takes minutes


class KubeImages:
    kind = "image"

    def __init__(self, namespace: str, registry: str, *, kubeconfig: str | None = None, context: str | None = None,
                 repository: str = "studios-env", index_url: str | None = None,
                 push_secret: str | None = "studios-registry", kaniko_image: str = objects.KANIKO_IMAGE) -> None:
        self.namespace, self.registry, self.repository = namespace, registry.rstrip("/"), repository
        self.kubeconfig, self.context, self.index_url = kubeconfig, context, index_url
        self.push_secret, self.kaniko_image = push_secret or None, kaniko_image
        self._api: client.ApiClient | None = None

    async def _client(self) -> client.ApiClient:
        if self._api is None:
            self._api = await connect(self.kubeconfig, self.context)
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()

    def destination(self, build_id: str) -> str:
        return dockerfile.image_tag(f"{self.registry}/{self.repository}", build_id)

    async def exists(self, artifact: Artifact) -> bool:
        """An image this builder pushed is taken to be in the registry (it never deletes one): the builder asks no
        registry API, whose credentials are the Kaniko pod's, not its own."""
        reference = image_reference(artifact)
        return reference is not None and reference.startswith(f"{self.registry}/{self.repository}:")

    async def build(self, build_id: str, spec: BuildSpec, out: OutputSink) -> Artifact:
        if spec.base_image is None:
            raise BuildError("an image build needs a base image")
        api = await self._client()
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        destination, name = self.destination(build_id), objects.job_name(build_id)
        text = dockerfile.dockerfile(spec, spec.base_image, build_id, index_url=self.index_url)
        out.line(f"$ kaniko --destination={destination} (Job {self.namespace}/{name}; Dockerfile below)")
        for line in text.splitlines():
            out.line(f"  {line}")
        config_map = objects.context_config_map(build_id, text, self.namespace, dockerfile.requirements_text(spec))
        job = objects.kaniko_job(build_id, destination, self.namespace, push_secret=self.push_secret,
                                 image=self.kaniko_image)
        try:
            await self._create(core.create_namespaced_config_map, config_map,
                               replace=core.replace_namespaced_config_map)
            created = await self._create(batch.create_namespaced_job, job) or \
                await _json(batch.read_namespaced_job, name, self.namespace)  # an earlier attempt's Job
            # owned by the Job now that it has a uid: the Job's TTL takes the context too if this builder dies
            await _json(core.replace_namespaced_config_map, name, self.namespace,
                        objects.owned_by_job(config_map, created))
            pod = await self._watch(core, batch, build_id, name, out)
        finally:
            await self._clean_up(core, batch, name)
        digest = objects.pushed_digest(pod) or ""
        out.line(f"pushed {destination} {digest}".rstrip())
        return Artifact(uri=f"{IMAGE_URI}{destination}", sha256=digest.removeprefix("sha256:"), size=0)

    async def _create(self, call: Any, body: dict[str, Any], replace: Any = None) -> dict[str, Any] | None:
        """The object created; None when one of its name exists (replaced by ``body`` when ``replace`` is given)."""
        name = body["metadata"]["name"]
        try:
            return await _json(call, self.namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise BuildError(f"the cluster refused the {body['kind']} {name}: {reason(error)}") from error
            if replace is not None:  # an earlier attempt's context: the same build id is the same content
                await _json(replace, name, self.namespace, body)
            return None

    async def _watch(self, core: client.CoreV1Api, batch: client.BatchV1Api, build_id: str, name: str,
                     out: OutputSink) -> dict[str, Any] | None:
        """Until the Job's verdict: the log streamed once Kaniko starts; its pod (for the digest), or BuildError."""
        tail: deque[str] = deque(maxlen=_TAIL)
        follower: asyncio.Task[None] | None = None
        try:
            while True:
                job = await _json(batch.read_namespaced_job, name, self.namespace)
                pod = await self._pod(core, build_id)
                if follower is None and pod is not None and objects.started(pod):
                    follower = asyncio.create_task(self._follow(core, pod["metadata"]["name"], out, tail))
                outcome, _ = objects.job_outcome(job)
                stuck = objects.waiting_reason(pod)
                if outcome != "running" or stuck:
                    if follower is not None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(follower), 10)  # the log's last lines
                    if outcome == "succeeded":
                        return pod
                    raise BuildError(objects.failure_reason(job, pod))
                await asyncio.sleep(_POLL)
        except ApiException as error:
            raise BuildError(f"the cluster stopped answering about Job {name}: {reason(error)}") from error
        finally:
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)

    async def _pod(self, core: client.CoreV1Api, build_id: str) -> dict[str, Any] | None:
        found = await _json(core.list_namespaced_pod, self.namespace, label_selector=objects.build_selector(build_id))
        items = sorted(found.get("items") or (), key=lambda p: str(p["metadata"].get("creationTimestamp")))
        return dict(items[-1]) if items else None

    async def _follow(self, core: client.CoreV1Api, pod: str, out: OutputSink, tail: deque[str]) -> None:
        response: Any = await core.read_namespaced_pod_log(pod, self.namespace, container="kaniko", follow=True,
                                                           _preload_content=False)
        try:
            async for raw in response.content:
                text = raw.decode(errors="replace").rstrip("\n")
                if text.strip():
                    out.line(text)
                    tail.append(text)
        finally:
            response.release()

    async def _clean_up(self, core: client.CoreV1Api, batch: client.BatchV1Api, name: str) -> None:
        body = objects.delete_options()
        for call in (batch.delete_namespaced_job, core.delete_namespaced_config_map):
            try:
                await _json(call, name, self.namespace, body=body)
            except ApiException as error:
                if error.status != 404:
                    log.warning("build %s: %s not deleted (its TTL will): %s", name, call.__name__, reason(error))
            except Exception as error:  # a cancelled build's clean-up must not hide the cancellation
                log.warning("build %s: %s not deleted: %s", name, call.__name__, error)
