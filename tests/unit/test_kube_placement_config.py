"""A k8s-platform compute environment's placement, from the API's config (validated, stored camelCase) to the pod
the kubernetes backend makes from it (schema-checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.contracts.errors import InvalidInput
from services.gateway.domain.computeenv_config import validate_config
from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends import kube_objects as objects
from services.lifecycle.backends import kube_pods as pods

schema = pytest.importorskip("libs.testing.kube_schema", reason="kubernetes-validate (dev extra) is needed")
SENT = {"workDir": "/work", "namespace": "studios", "nodeSelector": {"pool": "studios"},
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}],
        "spotNodeSelector": {"cloud.google.com/gke-spot": "true"}, "storageClassName": "fast", "workspaceSize": "20Gi"}


def test_the_stored_config_places_the_pod() -> None:
    stored, _ = validate_config("k8s-platform", SENT)
    assert stored == SENT  # camelCase in, camelCase stored: what lifecycle reads back from the event
    place = pods.placement(stored, "studios", objects.KubePlacement(namespace="studios"))
    spec = LaunchSpec(session_id="s1-1", studio_id="s1", tool="vscode", workspace_dir=Path("/w"),
                      base_path="/connect/s1/", secret="x", spot=True)
    pod = schema.valid(objects.pod(spec, "tool:1", place))
    assert pod["spec"]["nodeSelector"] == {"pool": "studios", "cloud.google.com/gke-spot": "true"}
    assert SENT["tolerations"][0] in pod["spec"]["tolerations"]
    claim = schema.valid(objects.claim(spec, place))
    assert (claim["spec"]["storageClassName"], claim["spec"]["resources"]["requests"]["storage"]) == ("fast", "20Gi")


@pytest.mark.parametrize("bad", [{"nodeSelecter": {"a": "b"}}, {"tolerations": [{"operator": "Sometimes"}]},
                                 {"workspaceSize": "lots"}, {"tolerations": [{"keys": "gpu"}]}])
def test_a_misspelt_or_bad_placement_is_refused_at_the_api(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="Invalid k8s-platform config"):
        validate_config("k8s-platform", {"workDir": "/work", **bad})
