"""The Kubernetes objects a session becomes: a Pod and a Service per run, a PersistentVolumeClaim per studio.

Pure (dicts in the API's JSON shape), so every object is checked against the official Kubernetes OpenAPI schemas in
the tests (tests/unit/test_kube_objects.py) on machines where no cluster can run. The claim outlives a stop (it is
named for the studio, not the run); the pod does not. Spot capacity is a node selector (and the toleration spot
nodes usually carry), as the compute environment names it. ``KubernetesBackend`` (kube.py) sends them; the RBAC
objects are what its service account needs, in its one namespace (deploy/kubernetes/ holds the same).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from libs.kube import dns_name
from services.lifecycle.backends import containers as shape
from services.lifecycle.backends.base import LaunchSpec

GPU_RESOURCE = "nvidia.com/gpu"
WORKSPACE_GROUP = 1000  # the group the workspace claim is given to (the services' own uid/gid in deploy/Dockerfile)
#: the exact ids (labels are lowercased RFC 1123 values; a run key may not be)
ANNOTATION_SESSION, ANNOTATION_STUDIO = "studios.io/session-id", "studios.io/studio-id"


@dataclass(frozen=True)
class KubePlacement:
    """What the compute environment says about where pods go."""

    namespace: str = "studios"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, str]] = ()
    spot_selector: Mapping[str, str] = field(default_factory=lambda: {"studios.io/capacity": "spot"})
    #: the taint spot nodes usually carry, tolerated by spot pods only
    spot_toleration: Mapping[str, str] = field(default_factory=lambda: {
        "key": "studios.io/capacity", "operator": "Equal", "value": "spot", "effect": "NoSchedule"})
    storage_class: str | None = None
    workspace_size: str = "10Gi"
    service_account: str | None = None


def _labels(spec: LaunchSpec, scope: str) -> dict[str, str]:
    return {key: dns_name(value) if value else "" for key, value in shape.labels(spec, scope).items()}


def claim_name(studio_id: str) -> str:
    """One claim per studio: every run mounts it, and it goes when the studio is deleted."""
    return dns_name(f"studios-ws-{studio_id}")


def claim(spec: LaunchSpec, placement: KubePlacement) -> dict[str, Any]:
    body: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": placement.workspace_size}}}
    if placement.storage_class:
        body["storageClassName"] = placement.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name(spec.studio_id), "namespace": placement.namespace,
                         "labels": {shape.LABEL_STUDIO: dns_name(spec.studio_id)}},
            "spec": body}


def _resources(spec: LaunchSpec) -> dict[str, dict[str, str]]:
    limits: dict[str, str] = {}
    if spec.cpu:
        limits["cpu"] = str(spec.cpu)
    if spec.memory_mib:
        limits["memory"] = f"{spec.memory_mib}Mi"
    if spec.gpu:
        limits[GPU_RESOURCE] = str(spec.gpu)
    return {"requests": dict(limits), "limits": limits} if limits else {}


def pod(spec: LaunchSpec, image: str, placement: KubePlacement, scope: str = "studios",
        grace: float = 30.0) -> dict[str, Any]:
    cmd = shape.command(spec)  # ValueError for a tool it does not know
    env = [{"name": k, "value": v} for k, v in (item.split("=", 1) for item in shape.environment(spec))]
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": shape.WORKSPACE}]
    volumes: list[dict[str, Any]] = [{"name": "workspace",
                                      "persistentVolumeClaim": {"claimName": claim(spec, placement)["metadata"]
                                                                ["name"]}}]
    for index, (source, target) in enumerate(spec.read_only_mounts):
        mounts.append({"name": f"data-{index}", "mountPath": shape.inside(spec, target), "readOnly": True})
        volumes.append({"name": f"data-{index}", "hostPath": {"path": source, "type": "Directory"}})
    container: dict[str, Any] = {
        "name": "tool", "image": image, "env": env, "workingDir": shape.WORKSPACE, "volumeMounts": mounts,
        "ports": [{"name": "tool", "containerPort": shape.TOOL_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": shape.TOOL_PORT}, "periodSeconds": 2},
    }
    if cmd is not None:
        container["command"] = cmd
    if resources := _resources(spec):
        container["resources"] = resources
    selector = {**placement.node_selector, **(placement.spot_selector if spec.spot else {})}
    body: dict[str, Any] = {"containers": [container], "volumes": volumes, "restartPolicy": "Never",
                            "terminationGracePeriodSeconds": max(0, math.ceil(grace)),
                            "automountServiceAccountToken": False,  # a tool has no business with the API
                            # the claim's files belong to group 1000, so a tool running as a user of the image
                            # (not root) can write its workspace; changed only when the claim's root differs
                            "securityContext": {"fsGroup": WORKSPACE_GROUP, "fsGroupChangePolicy": "OnRootMismatch"}}
    if selector:
        body["nodeSelector"] = selector
    tolerations = [*placement.tolerations, *([placement.spot_toleration] if spec.spot else [])]
    if tolerations:
        body["tolerations"] = [dict(t) for t in tolerations]
    if placement.service_account:
        body["serviceAccountName"] = placement.service_account
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": dns_name(f"studios-{spec.session_id}"), "namespace": placement.namespace,
                         "labels": _labels(spec, scope),
                         # labels are lowercased RFC 1123 values; these keep the exact ids for the handle
                         "annotations": {ANNOTATION_SESSION: spec.session_id, ANNOTATION_STUDIO: spec.studio_id}},
            "spec": body}


def service(spec: LaunchSpec, placement: KubePlacement, scope: str = "studios") -> dict[str, Any]:
    """A ClusterIP service for the run's pod: only the gateway, inside the cluster, reaches the tool."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": dns_name(f"studios-{spec.session_id}"), "namespace": placement.namespace,
                         "labels": _labels(spec, scope)},
            "spec": {"type": "ClusterIP", "selector": {shape.LABEL_SESSION: dns_name(spec.session_id)},
                     "ports": [{"name": "tool", "port": shape.TOOL_PORT, "targetPort": "tool",
                                "protocol": "TCP"}]}}


def role(placement: KubePlacement, name: str = "studios-lifecycle") -> dict[str, Any]:
    """What lifecycle may do, in its one namespace only: sessions' pods, services and claims, pod logs and events,
    the runs' link Secrets (never read back), and pod metrics where metrics.k8s.io is served."""
    verbs = ["get", "list", "watch", "create", "delete"]
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": placement.namespace},
            "rules": [{"apiGroups": [""], "resources": ["pods", "services", "persistentvolumeclaims"], "verbs": verbs},
                      {"apiGroups": [""], "resources": ["pods/log", "events"], "verbs": ["get", "list", "watch"]},
                      # a run's data-link credentials (kube_links.py): made, owned by its pod, deleted; never read
                      {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update", "delete"]},
                      {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]}]}


def service_account(placement: KubePlacement, name: str = "studios-lifecycle") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": placement.namespace}}


def role_binding(placement: KubePlacement, name: str = "studios-lifecycle") -> dict[str, Any]:
    """The role, to lifecycle's service account, in the same namespace (a RoleBinding: no cluster-wide right)."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": placement.namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": placement.namespace}]}
