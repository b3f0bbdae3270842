"""What KubernetesBackend sends besides objects (delete options, list and watch selectors) and how it reads the
API's answers (handles, statuses, metrics, placement): pure, checked against the official schemas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.lifecycle.backends import LaunchError, LaunchSpec, SessionState
from services.lifecycle.backends import kube_objects as objects
from services.lifecycle.backends import kube_pods as pods
from services.lifecycle.backends.kube import describe

schema = pytest.importorskip("libs.testing.kube_schema", reason="kubernetes-validate (dev extra) is needed")
#: the API's label syntax: an optional DNS-subdomain prefix, a name, and a value of at most 63 characters
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def spec(**extra: object) -> LaunchSpec:
    values: dict[str, object] = dict(session_id="St1-2", studio_id="St1", tool="custom", command=["serve"],
                                     workspace_dir=Path("/srv/ws/st1"), base_path="/connect/st1/", secret="s",
                                     labels={"user": "7"})
    return LaunchSpec(**(values | extra))  # type: ignore[arg-type]


def created(pod: dict[str, Any], phase: str = "Running", state: dict[str, Any] | None = None,
            ready: bool = True) -> dict[str, Any]:
    """The pod as the API answers once it exists."""
    meta = {**pod["metadata"], "uid": "0b7c", "creationTimestamp": "2026-01-01T10:00:00+00:00"}
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
              "containerStatuses": [{"name": "tool", "state": state or {"running": {}}}]}
    return {**pod, "metadata": meta, "status": status}


POD = objects.pod(spec(), "registry/tool:1", objects.KubePlacement(namespace="team-a"), scope="Test_Scope0")


def test_the_list_selector_is_a_valid_label_selector_matching_the_pods_labels() -> None:
    selector = schema.valid_as(pods.scope_selector("Test_Scope0"), "labelselector-meta-v1")
    assert all(POD["metadata"]["labels"][k] == v for k, v in selector["matchLabels"].items())
    text = pods.selector_string(selector)
    key, value = text.split("=")
    assert _KEY.match(key) and _VALUE.match(value)
    assert text == "studios.scope=test-scope0"


def test_the_field_selectors_name_live_pods_one_pod_and_its_events() -> None:
    assert pods.LIVE_PODS == "status.phase!=Succeeded,status.phase!=Failed"
    assert pods.one_pod("studios-st1-2") == "metadata.name=studios-st1-2"
    assert pods.pod_events("studios-st1-2") == "involvedObject.kind=Pod,involvedObject.name=studios-st1-2"


def test_delete_options_are_the_grace_in_whole_seconds() -> None:
    options = schema.valid_as(pods.delete_options(2.5), "deleteoptions-meta-v1")
    assert options["gracePeriodSeconds"] == 3 and options["propagationPolicy"] == "Background"
    assert pods.delete_options(-1)["gracePeriodSeconds"] == 0
    with pytest.raises(schema.ValidationError):
        schema.valid_as({**options, "gracePeriod": 3}, "deleteoptions-meta-v1")  # strict: a misspelt field fails


def test_the_service_is_owned_by_its_pod() -> None:
    service = pods.owned_by(objects.service(spec(), objects.KubePlacement(namespace="team-a")), created(POD))
    schema.valid(service)
    assert service["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": POD["metadata"]["name"], "uid": "0b7c"}]


def test_the_handle_keeps_the_exact_run_key_and_reaches_the_service() -> None:
    handle = pods.handle_of(created(POD), "kubernetes")
    assert handle.session_id == "St1-2"  # the label is lowercased; the annotation is exact
    assert (handle.ident, handle.host, handle.port) == ("studios-st1-2", "studios-st1-2.team-a.svc", 8080)
    assert handle.started_at == pods.timestamp("2026-01-01T10:00:00Z")
    assert pods.handle_of(created(POD, phase="Pending"), "kubernetes") == handle  # a listing gives an equal one


def test_statuses_of_a_running_an_ended_and_a_gone_pod() -> None:
    assert pods.status_of(created(POD)).state is SessionState.RUNNING
    assert not pods.is_ready(created(POD, ready=False))
    ended = created(POD, phase="Failed", state={"terminated": {"exitCode": 7, "reason": "Error"}})
    assert (pods.status_of(ended, "first\nlast").state, pods.exit_code(ended)) == (SessionState.EXITED, 7)
    assert pods.status_of(ended, "first\nlast").message == "first\nlast"
    killed = created(POD, state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
    assert pods.ended(killed) and pods.exit_code(killed) == -9  # death by SIGKILL reads as -9, as for local
    assert pods.status_of(killed).message == "out of memory (OOMKilled)"
    assert pods.status_of(None).state is SessionState.MISSING


def test_quantities_and_metrics_readings() -> None:
    assert pods.quantity("250m") == 0.25 and pods.quantity("1500000n") == pytest.approx(0.0015)
    assert pods.quantity("512Mi") == 512 * 2**20 and pods.quantity("2") == 2
    with pytest.raises(ValueError):
        pods.quantity("lots")
    metrics = {"containers": [{"name": "tool", "usage": {"cpu": "500m", "memory": "2048Ki"}}]}
    assert pods.metrics_reading(metrics) == (0.5, 2048 * 1024)


def test_placement_from_the_compute_environment() -> None:
    config = {"namespace": "team-a", "computeServiceAccount": "runner", "storageClassName": "fast",
              "servicePodSpec": "spec:\n  nodeSelector: {pool: studios}\n  tolerations:\n"
                                "  - {key: dedicated, operator: Exists, effect: NoSchedule, tolerationSeconds: 60}\n",
              "nodeSelector": {"zone": "a"}, "spotNodeSelector": {"cloud.google.com/gke-spot": "true"}}
    place = pods.placement(config, "team-a", objects.KubePlacement(namespace="team-a"))
    pod = schema.valid(objects.pod(spec(spot=True, gpu=1), "registry/tool:1", place))
    assert pod["spec"]["nodeSelector"] == {"pool": "studios", "zone": "a", "cloud.google.com/gke-spot": "true"}
    assert {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 60} in \
        pod["spec"]["tolerations"]
    assert pod["spec"]["serviceAccountName"] == "runner"
    assert schema.valid(objects.claim(spec(), place))["spec"]["storageClassName"] == "fast"


def test_a_namespace_other_than_the_backends_or_a_bad_pod_spec_is_refused() -> None:
    defaults = objects.KubePlacement(namespace="team-a")
    with pytest.raises(LaunchError, match="namespace 'team-b'"):
        pods.placement({"namespace": "team-b"}, "team-a", defaults)
    with pytest.raises(LaunchError, match="servicePodSpec"):
        pods.placement({"servicePodSpec": "- not a mapping"}, "team-a", defaults)


def test_the_launch_step_says_what_the_pod_asked_for_and_where_it_may_run() -> None:
    place = objects.KubePlacement(namespace="team-a", node_selector={"pool": "studios"})
    assert describe(spec(cpu=2, memory_mib=512, gpu=1, spot=True), place) == (
        "pod requests = limits: 2 cpu, 512 MiB, 1 nvidia.com/gpu; nodes pool=studios,studios.io/capacity=spot; "
        "namespace team-a")
    assert describe(spec(), objects.KubePlacement(namespace="team-a")) == \
        "pod without requests or limits; namespace team-a"
