"""Pure translation between the Kubernetes API's answers and the compute port, for ``KubernetesBackend``.

Request bodies and query parameters (delete options, the label and field selectors of lists and watches) are made
here too, so the tests check them against the official schemas (tests/unit/test_kube_pods.py) without a cluster.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml

from services.lifecycle.backends import containers as shape
from services.lifecycle.backends.base import Handle, LaunchError, SessionState, Status
from services.lifecycle.backends.kube_events import exit_message
from services.lifecycle.backends.kube_objects import ANNOTATION_SESSION, KubePlacement, dns_name

CONTAINER = "tool"
_LIVE_PHASES = ("Pending", "Running")


def scope_selector(scope: str) -> dict[str, Any]:
    """Every session of this installation (``LabelSelector``): what reconciliation lists."""
    return {"matchLabels": {shape.LABEL_SCOPE: dns_name(scope)}}


def selector_string(selector: Mapping[str, Any]) -> str:
    """A ``LabelSelector``'s ``matchLabels`` as the ``labelSelector`` query parameter."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector["matchLabels"].items()))


#: ended pods are not sessions to adopt; the API filters them out
LIVE_PODS = ",".join(f"status.phase!={phase}" for phase in ("Succeeded", "Failed"))


def pod_events(pod_name: str) -> str:
    """The field selector of one pod's events."""
    return f"involvedObject.kind=Pod,involvedObject.name={pod_name}"


def one_pod(pod_name: str) -> str:
    """The field selector a watch of one pod uses."""
    return f"metadata.name={pod_name}"


def delete_options(grace: float) -> dict[str, Any]:
    """SIGTERM, then SIGKILL after ``grace`` (whole seconds); what the pod owns (its Service) goes in the background."""
    return {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": max(0, math.ceil(grace)),
            "propagationPolicy": "Background"}


def owned_by(obj: dict[str, Any], pod: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` (the run's Service) owned by its pod, so the cluster removes it with the pod, even one we never see."""
    meta = pod["metadata"]
    reference = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [reference]}}


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def handle_of(pod: Mapping[str, Any], backend: str, limits: str = "") -> Handle:
    """A pod's handle: the gateway reaches the tool through the run's Service (same name as the pod), by its
    cluster DNS name. ``started_at`` is the pod's creation time, which never changes, so every listing of one pod
    gives an equal handle."""
    meta = pod["metadata"]
    annotations = meta.get("annotations") or {}
    session = annotations.get(ANNOTATION_SESSION) or (meta.get("labels") or {}).get(shape.LABEL_SESSION)
    if not session:
        raise LaunchError(f"pod {meta.get('name')} carries no session id")
    host = f"{meta['name']}.{meta['namespace']}.svc"
    return Handle(str(session), backend, meta["name"], host, shape.TOOL_PORT, timestamp(meta["creationTimestamp"]),
                  limits)


def _tool_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return next((s for s in statuses if s.get("name") == CONTAINER), {})


def exit_code(pod: Mapping[str, Any]) -> int | None:
    """The tool's exit code once it ended (signal N reported as 128+N becomes -N, as the port says)."""
    terminated = (_tool_status(pod).get("state") or {}).get("terminated")
    if terminated is None:
        terminated = (_tool_status(pod).get("lastState") or {}).get("terminated")
    return shape.exit_code(terminated.get("exitCode")) if terminated else None


def ended(pod: Mapping[str, Any]) -> bool:
    if (pod.get("status") or {}).get("phase") not in _LIVE_PHASES:
        return True
    return "terminated" in (_tool_status(pod).get("state") or {})


def status_of(pod: Mapping[str, Any] | None, last_lines: str = "") -> Status:
    if pod is None:
        return Status(SessionState.MISSING)
    if not ended(pod):
        return Status(SessionState.RUNNING)
    return Status(SessionState.EXITED, exit_code(pod), last_lines or exit_message(pod))


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text: str) -> float:
    """A Kubernetes quantity (``250m``, ``1234567n``, ``512Mi``) as a plain number of its unit."""
    match = _QUANTITY.match(text.strip())
    if match is None or match.group(2) not in _SUFFIX:
        raise ValueError(f"not a quantity: {text!r}")
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def metrics_reading(metrics: Mapping[str, Any]) -> tuple[float, int]:
    """(cpu cores now, memory bytes now) of the tool container from a ``metrics.k8s.io`` PodMetrics."""
    for container in metrics.get("containers") or ():
        if container.get("name") == CONTAINER:
            usage = container.get("usage") or {}
            return quantity(str(usage.get("cpu", "0"))), int(quantity(str(usage.get("memory", "0"))))
    return 0.0, 0


def placement(config: Mapping[str, Any], namespace: str, defaults: KubePlacement) -> KubePlacement:
    """Where a compute environment's pods go: Seqera's ``K8sComputeConfig`` (``namespace``,
    ``computeServiceAccount``, ``servicePodSpec`` as ``spec:`` YAML with ``nodeSelector``/``tolerations``) and our
    extensions ``nodeSelector``, ``tolerations``, ``spotNodeSelector``, ``storageClassName``, ``workspaceSize``.
    A namespace other than the backend's is refused: its role is limited to that one namespace."""
    wanted = config.get("namespace")
    if wanted and wanted != namespace:
        raise LaunchError(f"the compute environment names namespace {wanted!r}; this lifecycle runs pods only in "
                          f"{namespace!r} (STUDIOS_KUBE_NAMESPACE)")
    pod_spec: Mapping[str, Any] = {}
    if text := config.get("servicePodSpec"):
        try:
            pod_spec = (yaml.safe_load(str(text)) or {}).get("spec") or {}
        except (yaml.YAMLError, AttributeError) as error:
            raise LaunchError(f"the compute environment's servicePodSpec is not a 'spec:' YAML mapping: {error}") \
                from None
    selector = {**defaults.node_selector, **(pod_spec.get("nodeSelector") or {}), **(config.get("nodeSelector") or {})}
    tolerations = [*defaults.tolerations, *(pod_spec.get("tolerations") or ()), *(config.get("tolerations") or ())]
    return KubePlacement(
        namespace=namespace, node_selector={str(k): str(v) for k, v in selector.items()},
        tolerations=[dict(t) for t in tolerations],  # tolerationSeconds stays a number
        spot_selector=dict(config.get("spotNodeSelector") or defaults.spot_selector),
        spot_toleration=defaults.spot_toleration,
        storage_class=config.get("storageClassName") or defaults.storage_class,
        workspace_size=str(config.get("workspaceSize") or defaults.workspace_size),
        service_account=config.get("computeServiceAccount") or defaults.service_account)
