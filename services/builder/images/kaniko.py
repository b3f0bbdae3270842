"""A template's image built inside the cluster by a Kaniko Job: the objects, pure and schema-checked.

The builder's generated Dockerfile goes in a ConfigMap mounted as Kaniko's build context (``dir://``), so no
registry or bucket holds the context; the image is pushed to ``destination`` (tagged by the build's content hash,
so an unchanged spec is found, not rebuilt) with the registry credentials of a ``kubernetes.io/dockerconfigjson``
Secret the operator makes. The Job never retries on its own (``backoffLimit: 0``): a failed build is a fact the
builder records, and a retry is a new build. Kaniko writes the pushed image's digest to the container's termination
message (``--digest-file=/dev/termination-log``); a failed container's message is its log's tail instead
(``FallbackToLogsOnError``), so the pod alone says what was pushed or why not. The builder sends these
(``services/builder/images/kube.py``); reading a Job's and its pod's state is pure, here.
"""

from __future__ import annotations

from typing import Any

from libs.kube import dns_name

KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
LABEL_BUILD = "studios.build"


def job_name(build_id: str) -> str:
    """The Job's, its ConfigMap's name; its pod's name starts with it."""
    return dns_name(f"studios-build-{build_id}")


def build_selector(build_id: str) -> str:
    """The label selector of a build's Job, pod and ConfigMap."""
    return f"{LABEL_BUILD}={dns_name(build_id)}"


def context_config_map(build_id: str, dockerfile: str, namespace: str, requirements: str = "") -> dict[str, Any]:
    """The build context: the generated Dockerfile and the ``requirements.txt`` it copies in."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": job_name(build_id), "namespace": namespace,
                         "labels": {LABEL_BUILD: dns_name(build_id)}},
            "data": {"Dockerfile": dockerfile, "requirements.txt": requirements}}


def kaniko_job(build_id: str, destination: str, namespace: str, *, push_secret: str | None = "studios-registry",
               cpu: str = "1", memory: str = "2Gi", deadline_seconds: int = 3600,
               image: str = KANIKO_IMAGE) -> dict[str, Any]:
    """The Job that builds ``context_config_map(build_id, …)`` into ``destination`` (``registry/repo:tag``)."""
    name = job_name(build_id)
    mounts: list[dict[str, Any]] = [{"name": "context", "mountPath": "/workspace", "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "context", "configMap": {"name": name}}]
    if push_secret:
        mounts.append({"name": "registry", "mountPath": "/kaniko/.docker", "readOnly": True})
        volumes.append({"name": "registry", "secret": {
            "secretName": push_secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}})
    container = {
        "name": "kaniko", "image": image,
        "args": ["--context=dir:///workspace", "--dockerfile=/workspace/Dockerfile", f"--destination={destination}",
                 "--snapshot-mode=redo", "--cache=true", "--digest-file=/dev/termination-log"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
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


def owned_by_job(config_map: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """The context owned by its Job, so the Job's TTL (or its deletion) removes it even if the builder dies."""
    meta = job["metadata"]
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
             "blockOwnerDeletion": False}
    return {**config_map, "metadata": {**config_map["metadata"], "ownerReferences": [owner]}}


def delete_options() -> dict[str, Any]:
    """A finished or abandoned build's Job goes with its pod (a running Kaniko is killed: a cancelled build)."""
    return {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Background"}


def job_outcome(job: dict[str, Any]) -> tuple[str, str]:
    """``("running" | "succeeded" | "failed", why)`` from a Job's conditions (``why``: a failed Job's reason)."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "succeeded", ""
        if condition.get("type") == "Failed":
            words = [str(condition.get(k)) for k in ("reason", "message") if condition.get(k)]
            return "failed", ": ".join(words) or "the Job failed"
    return "running", ""


def _kaniko_state(pod: dict[str, Any] | None) -> dict[str, Any]:
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == "kaniko":
            return dict(status.get("state") or {})
    return {}


def started(pod: dict[str, Any] | None) -> bool:
    """Kaniko's container runs or ran: its log can be read (before that the API answers 400)."""
    return bool({"running", "terminated"} & set(_kaniko_state(pod)))


def waiting_reason(pod: dict[str, Any] | None) -> str | None:
    """Why Kaniko cannot start (``ErrImagePull``, ``CreateContainerConfigError`` for a missing Secret, …): a build
    that would wait for ever, so the builder fails it; None while it starts normally."""
    waiting = _kaniko_state(pod).get("waiting") or {}
    if waiting.get("reason") in _STUCK:
        return ": ".join(str(waiting[k]) for k in ("reason", "message") if waiting.get(k))
    return None


_STUCK = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
          "CreateContainerError"}


def pushed_digest(pod: dict[str, Any] | None) -> str | None:
    """The digest Kaniko pushed (``sha256:…``), from a succeeded container's termination message."""
    terminated = _kaniko_state(pod).get("terminated") or {}
    message = str(terminated.get("message") or "").strip()
    return message if terminated.get("exitCode") == 0 and message.startswith("sha256:") else None


def failure_reason(job: dict[str, Any], pod: dict[str, Any] | None) -> str:
    """What a failed build's user reads: the container's reason and exit code and its last lines, else the Job's."""
    terminated = _kaniko_state(pod).get("terminated") or {}
    _, why = job_outcome(job)
    if terminated:
        head = f"kaniko ended: {terminated.get('reason') or 'Error'} (exit code {terminated.get('exitCode')})"
        message = str(terminated.get("message") or "").strip()
        return "\n".join(part for part in (head, message, why) if part)
    return waiting_reason(pod) or why or "the build Job failed"
