"""The Kubernetes objects of a session, validated against the official OpenAPI schemas (kubernetes-validate, strict:
an unknown or misspelt field fails) — no cluster can run on these machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends import kube_objects as kube

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra) is needed")
K8S_VERSION = "1.31"


def valid(obj: dict[str, Any]) -> dict[str, Any]:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return obj


def spec(**extra: object) -> LaunchSpec:
    values: dict[str, object] = dict(session_id="St1-2", studio_id="St1", tool="custom", command=["serve"],
                                     workspace_dir=Path("/srv/ws/st1"), base_path="/connect/st1/", secret="s",
                                     labels={"user": "7"})
    return LaunchSpec(**(values | extra))  # type: ignore[arg-type]


PLACEMENT = kube.KubePlacement(namespace="team-a", node_selector={"pool": "studios"},
                               tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                               storage_class="fast", service_account="studio-runner")


def test_the_pod_validates_with_requests_limits_gpu_and_placement() -> None:
    pod = valid(kube.pod(spec(cpu=2, memory_mib=512, gpu=1, read_only_mounts=(("/data/x", "/srv/ws/st1/data/x"),)),
                         "registry/tool:1", PLACEMENT))
    [container] = pod["spec"]["containers"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "512Mi", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert {"name": "data-0", "mountPath": "/workspace/data/x", "readOnly": True} in container["volumeMounts"]
    assert pod["spec"]["nodeSelector"] == {"pool": "studios"} and pod["metadata"]["namespace"] == "team-a"
    assert pod["metadata"]["labels"]["studios.session"] == "st1-2"
    assert pod["spec"]["restartPolicy"] == "Never"  # a run ends with its tool; the next start is a new pod


def test_spot_is_a_node_selector_and_a_toleration() -> None:
    pod = valid(kube.pod(spec(spot=True), "registry/tool:1", PLACEMENT))
    assert pod["spec"]["nodeSelector"] == {"pool": "studios", "studios.io/capacity": "spot"}
    assert PLACEMENT.spot_toleration in pod["spec"]["tolerations"]


def test_an_image_tool_runs_the_images_command() -> None:
    pod = valid(kube.pod(spec(tool="vscode", command=None), "registry/tool:1", kube.KubePlacement()))
    assert "command" not in pod["spec"]["containers"][0] and "resources" not in pod["spec"]["containers"][0]


def test_the_claim_is_per_studio_and_the_service_selects_the_runs_pod() -> None:
    claim = valid(kube.claim(spec(), PLACEMENT))
    assert claim["metadata"]["name"] == kube.claim(spec(session_id="St1-3"), PLACEMENT)["metadata"]["name"]
    assert claim["spec"]["storageClassName"] == "fast"
    service = valid(kube.service(spec(), PLACEMENT))
    pod = kube.pod(spec(), "registry/tool:1", PLACEMENT)
    assert all(pod["metadata"]["labels"][k] == v for k, v in service["spec"]["selector"].items())
    assert service["spec"]["type"] == "ClusterIP"


def test_rbac_is_one_namespaced_role() -> None:
    role = valid(kube.role(PLACEMENT))
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "team-a"
    assert {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]} in role["rules"]


def test_the_role_is_bound_to_lifecycles_service_account_in_the_same_namespace_only() -> None:
    account = valid(kube.service_account(PLACEMENT))
    binding = valid(kube.role_binding(PLACEMENT))
    assert binding["kind"] == "RoleBinding" and binding["roleRef"]["kind"] == "Role"  # never a ClusterRole
    assert binding["roleRef"]["name"] == kube.role(PLACEMENT)["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": "team-a"}]


def test_the_pod_keeps_the_exact_ids_and_the_grace_period() -> None:
    pod = valid(kube.pod(spec(), "registry/tool:1", PLACEMENT, grace=2.5))
    assert pod["metadata"]["annotations"] == {kube.ANNOTATION_SESSION: "St1-2", kube.ANNOTATION_STUDIO: "St1"}
    assert pod["spec"]["terminationGracePeriodSeconds"] == 3
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["securityContext"]["fsGroup"] == kube.WORKSPACE_GROUP  # a non-root tool can write its workspace


def test_a_misspelt_field_is_caught_by_the_schema() -> None:
    pod = kube.pod(spec(), "registry/tool:1", PLACEMENT)
    pod["spec"]["containers"][0]["imag"] = pod["spec"]["containers"][0].pop("image")
    with pytest.raises(kubernetes_validate.ValidationError):
        valid(pod)


def test_names_are_rfc1123_labels() -> None:
    assert kube.dns_name("Studio_ABC.1-" + "x" * 80) == ("studio-abc-1-" + "x" * 80)[:63]
