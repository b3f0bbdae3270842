"""``s3://`` data links in a pod: synced by init containers into an ``emptyDir`` the tool mounts read-only. Pure.

A ``hostPath`` of lifecycle's copy is right on a one-node cluster only; instead each link gets an init container,
running the studios image's ``python -m services.lifecycle.datalinks.sync``, that copies the link into the pod's
``links`` volume before the tool starts, on whichever node the pod lands. The tool container mounts each copy's
sub-folder (``copies/<link id>``) read-only at ``<workspace>/data/<name>``; the sync's manifests stay outside it.

Credentials go in one Secret per run (``studios-links-<run key>``), made from the credential store just before the
pod and then owned by it (the cluster deletes it with the pod); the init containers read them by reference
(``secretKeyRef``), so no key is in the pod spec, an event or a log. A public link gets no keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from libs.kube import dns_name
from services.lifecycle.backends import containers as shape
from services.lifecycle.backends.base import LaunchSpec
from services.lifecycle.datalinks.sync import ENV, PodLink, copy_path

VOLUME = "links"
ROOT = "/studios-links"
#: the image deploy/Dockerfile builds, as deploy/README.md tags it (STUDIOS_KUBE_SYNC_IMAGE)
DEFAULT_SYNC_IMAGE = "studios:local"


def secret_name(spec: LaunchSpec) -> str:
    return dns_name(f"studios-links-{spec.session_id}")


def _key(index: int, field: str) -> str:
    return f"link-{index}-{field.replace('_', '-')}"


def link_secret(spec: LaunchSpec, namespace: str) -> dict[str, Any] | None:
    """The run's link credentials (None when every link is public)."""
    data: dict[str, str] = {}
    for index, link in enumerate(spec.pod_links):
        creds = link.access.credentials
        if creds is None or creds.anonymous:
            continue
        values = {"access_key": creds.access_key, "secret_key": creds.secret_key,
                  "session_token": creds.session_token, "endpoint": creds.endpoint, "region": creds.region}
        data |= {_key(index, field): value for field, value in values.items() if value}
    if not data:
        return None
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_name(spec), "namespace": namespace,
                         "labels": {shape.LABEL_SESSION: dns_name(spec.session_id)}},
            "stringData": data}


def _init_container(spec: LaunchSpec, index: int, link: PodLink, image: str, secret: str | None) -> dict[str, Any]:
    env: list[dict[str, Any]] = []
    creds = link.access.credentials
    if secret is not None and creds is not None and not creds.anonymous:
        # optional: a field the credentials do not have (a session token, a region) is simply absent
        env = [{"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": _key(index, field),
                                                             "optional": True}}}
               for field, name in ENV.items()]
    endpoint = link.access.endpoint
    if endpoint and not env:  # a public link on an S3-compatible server: its address is no secret
        env = [{"name": ENV["endpoint"], "value": endpoint}]
    return {"name": f"sync-link-{index}", "image": image,
            "command": ["python", "-m", "services.lifecycle.datalinks.sync", "--ref", link.ref, "--root", ROOT,
                        "--link", link.link_id, "--name", link.name, "--limit-mb", str(link.limit_mb)],
            "env": env, "volumeMounts": [{"name": VOLUME, "mountPath": ROOT}],
            "terminationMessagePolicy": "FallbackToLogsOnError"}


def with_links(pod: dict[str, Any], spec: LaunchSpec, image: str = DEFAULT_SYNC_IMAGE,
               secret: str | None = None) -> dict[str, Any]:
    """``pod`` with the run's ``s3://`` links synced in and mounted read-only (a new dict; ``pod`` unchanged)."""
    links: Sequence[PodLink] = spec.pod_links
    if not links:
        return pod
    body = dict(pod["spec"])
    [tool, *others] = body["containers"]
    mounts = [*tool.get("volumeMounts", ()),
              *({"name": VOLUME, "mountPath": shape.inside(spec, link.target), "subPath": copy_path(link.link_id),
                 "readOnly": True} for link in links)]
    body["containers"] = [{**tool, "volumeMounts": mounts}, *others]
    body["volumes"] = [*body.get("volumes", ()), {"name": VOLUME, "emptyDir": {}}]
    body["initContainers"] = [*body.get("initContainers", ()),
                              *(_init_container(spec, i, link, image, secret) for i, link in enumerate(links))]
    return {**pod, "spec": body}
