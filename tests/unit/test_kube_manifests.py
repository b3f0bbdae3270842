"""deploy/kubernetes/: every object parses and validates against the official schemas (strict), the kustomization's
resources all exist, the Deployments probe what each service serves, lifecycle's RBAC is the backend's own Role in
one namespace, and no secret is in the files. The CloudNativePG Cluster and the NATS Helm values have no schema
offline: their required fields are checked here explicitly. ``kustomize build`` runs where kubectl or kustomize is
on PATH (skipped otherwise, saying so)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from libs.contracts import build_commands, checkpoint_commands, logs, studio_commands
from libs.contracts.commands import Command
from services.lifecycle.backends import kube_objects

schema = pytest.importorskip("libs.testing.kube_schema", reason="kubernetes-validate (dev extra) is needed")
ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
SERVICES = {"gateway", "lifecycle", "checkpoints", "builder", "logs"}
#: imported for their Command subclasses: what each service serves
CONTRACTS = (build_commands, checkpoint_commands, logs, studio_commands)
NOT_CORE = {"Cluster"}  # CloudNativePG's: its CRD's schema is not available offline


def resources(folder: Path) -> list[Path]:
    """The files a kustomization names, folders followed into their own kustomization."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        path = folder / name
        assert path.exists(), f"{folder / 'kustomization.yaml'} names {name}, which does not exist"
        found += resources(path) if path.is_dir() else [path]
    return found


def objects() -> list[dict[str, Any]]:
    return [doc for path in resources(ROOT) for doc in schema.documents(path.read_text())]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in objects() if o["kind"] == kind]


def test_every_resource_exists_parses_and_every_core_object_validates() -> None:
    found = objects()
    assert {o["kind"] for o in found} >= {"Namespace", "ConfigMap", "PersistentVolumeClaim", "ServiceAccount", "Role",
                                          "RoleBinding", "Deployment", "Service", "Ingress", "Cluster"}
    for obj in found:
        if obj["kind"] not in NOT_CORE:
            schema.valid(obj)


def test_no_secret_is_in_the_files_only_references() -> None:
    assert of_kind("Secret") == []
    refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for d in of_kind("Deployment") for c in d["spec"]["template"]["spec"]["containers"]
            for e in c.get("env", ()) if "valueFrom" in e}
    [cluster] = of_kind("Cluster")
    assert refs == {(f"{cluster['metadata']['name']}-app", "uri"), ("studios-secrets", "admin-token")}


def _commands() -> set[tuple[str, str]]:
    """Every (service, command) the services serve, from the contracts: a probe naming anything else fails."""
    pending, found = list(Command.__subclasses__()), set()
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if "service" in vars(cls) or "name" in vars(cls):
            found.add((getattr(cls, "service", ""), getattr(cls, "name", "")))
    return found


def test_each_deployment_runs_one_service_and_probes_what_it_serves() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    assert set(deployments) == {f"studios-{s}" for s in SERVICES}
    served = _commands()
    for service in SERVICES:
        [container] = deployments[f"studios-{service}"]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["python", "-m", f"services.{service}"]  # the image's tini stays in front
        for probe in (container["readinessProbe"], container["livenessProbe"]):
            if "httpGet" in probe:
                port = next(p for p in container["ports"] if p["name"] == probe["httpGet"]["port"])
                assert (service, probe["httpGet"]["path"], port["containerPort"]) in {
                    ("gateway", "/health", 8080), ("lifecycle", "/metrics", 9101)}
            else:
                python, flag, module, probed, command = probe["exec"]["command"]
                assert (python, flag, module, probed) == ("python", "-m", "libs.platform.probe", service)
                assert (probed, command) in served, f"{service} serves no command {command}"


def test_lifecycle_has_the_backends_role_in_its_namespace_only() -> None:
    [role], [binding], [account] = of_kind("Role"), of_kind("RoleBinding"), of_kind("ServiceAccount")
    assert role["rules"] == kube_objects.role(kube_objects.KubePlacement())["rules"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": "studios"}]
    assert of_kind("ClusterRole") == [] and of_kind("ClusterRoleBinding") == []
    [lifecycle] = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "studios-lifecycle"]
    assert lifecycle["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    [config] = of_kind("ConfigMap")
    assert config["data"]["STUDIOS_KUBE_NAMESPACE"] == "studios"  # the namespace the Role is in
    assert config["data"]["STUDIOS_DEFAULT_PLATFORM"] == "k8s-platform"  # the first environment runs pods


def test_the_ingress_reaches_the_gateway_for_its_origin_and_every_studios() -> None:
    [ingress], [service] = of_kind("Ingress"), of_kind("Service")
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["studios.example.test", "*.studios.example.test"]
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {service["metadata"]["name"]}


def test_the_cloudnativepg_cluster_has_its_required_fields() -> None:
    """Checked by hand: the operator's CRD schema is not available offline (deploy/README.md says so)."""
    [cluster] = of_kind("Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = cluster["spec"]
    assert spec["instances"] >= 1 and spec["storage"]["size"]
    assert spec["bootstrap"]["initdb"] == {"database": "studios", "owner": "studios"}
    assert spec["postgresql"]["parameters"]["idle_in_transaction_session_timeout"]


def test_the_nats_values_ask_for_a_three_node_jetstream_cluster_on_files() -> None:
    """Checked by hand: the chart's values have no schema offline. The keys are those of the chart's 1.x values."""
    values = yaml.safe_load((ROOT / "nats" / "values.yaml").read_text())["config"]
    assert values["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = values["jetstream"]
    assert jetstream["enabled"] and jetstream["fileStore"]["enabled"] and jetstream["fileStore"]["pvc"]["enabled"]
    assert jetstream["fileStore"]["pvc"]["size"] and not jetstream["memoryStore"]["enabled"]
    [config] = of_kind("ConfigMap")
    assert config["data"]["NATS_URL"] == "nats://nats.studios.svc:4222"  # the release `nats` in namespace studios


def test_kustomize_build_renders_every_object_in_the_namespace() -> None:
    tool = shutil.which("kustomize") or shutil.which("kubectl")
    if tool is None:
        pytest.skip("neither kustomize nor kubectl is on PATH: the build itself is not checked")
    args = [tool, "build", str(ROOT)] if tool.endswith("kustomize") else [tool, "kustomize", str(ROOT)]
    built = schema.documents(subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert sorted(o["kind"] for o in built) == sorted(o["kind"] for o in objects())
    for obj in built:
        assert obj["kind"] == "Namespace" or obj["metadata"]["namespace"] == "studios"
        if obj["kind"] == "Deployment":
            assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "studios:local"
        if obj["kind"] not in NOT_CORE:
            schema.valid(obj)
