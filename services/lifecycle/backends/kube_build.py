"""A template's image built inside the cluster by a Kaniko Job: the objects, pure and schema-checked.

The builder's generated Dockerfile goes in a ConfigMap mounted as Kaniko's build context (``dir://``), so no
registry or bucket holds the context; the image is pushed to ``destination`` (tagged by the build's content hash,
so an unchanged spec is found, not rebuilt) with the registry credentials of a ``kubernetes.io/dockerconfigjson``
Secret the operator makes. The Job never retries on its own (``backoffLimit: 0``): a failed build is a fact the
builder records, and a retry is a new build. Sending these is the builder's (not wired yet: docs/backends.md).
"""

from __future__ import annotations

from typing import Any

from services.lifecycle.backends.kube_objects import dns_name

KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
LABEL_BUILD = "studios.build"


def context_config_map(build_id: str, dockerfile: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": dns_name(f"studios-build-{build_id}"), "namespace": namespace,
                         "labels": {LABEL_BUILD: dns_name(build_id)}},
            "data": {"Dockerfile": dockerfile}}


def kaniko_job(build_id: str, destination: str, namespace: str, *, push_secret: str | None = "studios-registry",
               cpu: str = "1", memory: str = "2Gi", deadline_seconds: int = 3600,
               image: str = KANIKO_IMAGE) -> dict[str, Any]:
    """The Job that builds ``context_config_map(build_id, …)`` into ``destination`` (``registry/repo:tag``)."""
    name = dns_name(f"studios-build-{build_id}")
    mounts: list[dict[str, Any]] = [{"name": "context", "mountPath": "/workspace", "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "context", "configMap": {"name": name}}]
    if push_secret:
        mounts.append({"name": "registry", "mountPath": "/kaniko/.docker", "readOnly": True})
        volumes.append({"name": "registry", "secret": {
            "secretName": push_secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}})
    container = {
        "name": "kaniko", "image": image,
        "args": ["--context=dir:///workspace", "--dockerfile=/workspace/Dockerfile", f"--destination={destination}",
                 "--snapshot-mode=redo", "--cache=true"],
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
    }
    labels = {LABEL_BUILD: dns_name(build_id)}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": deadline_seconds, "ttlSecondsAfterFinished": 3600,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                                           "containers": [container], "volumes": volumes}}}}
