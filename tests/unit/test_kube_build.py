"""The Kaniko Job that builds a template's image in the cluster, and its context, against the official schemas."""

from __future__ import annotations

import pytest

from services.lifecycle.backends import kube_build as build

schema = pytest.importorskip("libs.testing.kube_schema", reason="kubernetes-validate (dev extra) is needed")


def test_the_job_builds_the_context_into_the_destination_once() -> None:
    job = schema.valid(build.kaniko_job("B_42", "registry.example/studios/tool:abc123", "studios"))
    template = job["spec"]["template"]["spec"]
    [kaniko] = template["containers"]
    assert "--destination=registry.example/studios/tool:abc123" in kaniko["args"]
    assert "--context=dir:///workspace" in kaniko["args"]
    assert job["spec"]["backoffLimit"] == 0 and template["restartPolicy"] == "Never"  # a retry is a new build
    assert {"name": "context", "configMap": {"name": "studios-build-b-42"}} in template["volumes"]
    assert template["automountServiceAccountToken"] is False


def test_the_context_is_a_config_map_holding_the_dockerfile() -> None:
    context = schema.valid(build.context_config_map("B_42", "FROM base\nRUN pip install x\n", "studios"))
    assert context["metadata"]["name"] == build.kaniko_job("B_42", "r/t:1", "studios")["spec"]["template"][
        "spec"]["volumes"][0]["configMap"]["name"]
    assert context["data"]["Dockerfile"].startswith("FROM base")


def test_registry_credentials_come_from_a_secret_mounted_where_kaniko_reads_them() -> None:
    template = build.kaniko_job("b1", "r/t:1", "studios", push_secret="regcred")["spec"]["template"]["spec"]
    assert {"name": "registry", "secret": {"secretName": "regcred", "items": [
        {"key": ".dockerconfigjson", "path": "config.json"}]}} in template["volumes"]
    assert {"name": "registry", "mountPath": "/kaniko/.docker", "readOnly": True} in \
        template["containers"][0]["volumeMounts"]
    anonymous = schema.valid(build.kaniko_job("b1", "r/t:1", "studios", push_secret=None))
    assert [v["name"] for v in anonymous["spec"]["template"]["spec"]["volumes"]] == ["context"]
