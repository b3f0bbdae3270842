"""The Kaniko Job that builds a template's image in the cluster, and its context, against the official schemas."""

from __future__ import annotations

import pytest

from services.builder.images import kaniko as build

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


def test_the_context_holds_the_requirements_and_is_owned_by_its_job() -> None:
    context = build.context_config_map("B_42", "FROM base\n", "studios", "pandas==2.2\n")
    assert context["data"] == {"Dockerfile": "FROM base\n", "requirements.txt": "pandas==2.2\n"}
    job = {**build.kaniko_job("B_42", "r/t:1", "studios"), "metadata": {"name": "studios-build-b-42", "uid": "u-1"}}
    owned = schema.valid(build.owned_by_job(context, job))
    assert owned["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job",
                                                     "name": "studios-build-b-42", "uid": "u-1",
                                                     "blockOwnerDeletion": False}]
    assert "ownerReferences" not in context["metadata"]  # pure: the input is left as it was


def test_kaniko_reports_the_digest_in_its_termination_message_and_a_failure_its_log() -> None:
    [kaniko] = build.kaniko_job("b1", "r/t:1", "studios")["spec"]["template"]["spec"]["containers"]
    assert "--digest-file=/dev/termination-log" in kaniko["args"]
    assert kaniko["terminationMessagePolicy"] == "FallbackToLogsOnError"
    schema.valid_as(build.delete_options(), "deleteoptions-meta-v1")


def _pod(state: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"name": "studios-build-b1-x"},
            "status": {"containerStatuses": [{"name": "kaniko", "state": state}]}}


def test_a_job_reads_running_until_a_condition_says_otherwise() -> None:
    assert build.job_outcome({"status": {"active": 1}}) == ("running", "")
    assert build.job_outcome({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == \
        ("succeeded", "")
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                         "message": "Job was active longer than specified deadline"}]}}
    assert build.job_outcome(failed) == ("failed", "DeadlineExceeded: Job was active longer than specified deadline")
    assert build.job_outcome({"status": {"conditions": [{"type": "Failed", "status": "False"}]}})[0] == "running"


def test_the_pushed_digest_comes_only_from_a_container_that_succeeded() -> None:
    done = _pod({"terminated": {"exitCode": 0, "reason": "Completed", "message": "sha256:abc\n"}})
    assert build.pushed_digest(done) == "sha256:abc"
    assert build.pushed_digest(_pod({"terminated": {"exitCode": 1, "message": "sha256:abc"}})) is None
    assert build.pushed_digest(_pod({"running": {}})) is None and build.pushed_digest(None) is None


def test_a_failed_build_says_the_containers_reason_and_last_lines() -> None:
    failed_job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    pod = _pod({"terminated": {"exitCode": 1, "reason": "Error", "message": "error building image: pip failed"}})
    assert build.failure_reason(failed_job, pod) == \
        "kaniko ended: Error (exit code 1)\nerror building image: pip failed\nBackoffLimitExceeded"
    assert build.failure_reason(failed_job, None) == "BackoffLimitExceeded"


def test_a_kaniko_that_cannot_start_is_a_failure_not_a_wait() -> None:
    missing = _pod({"waiting": {"reason": "CreateContainerConfigError", "message": 'secret "regcred" not found'}})
    assert build.waiting_reason(missing) == 'CreateContainerConfigError: secret "regcred" not found'
    assert build.failure_reason({"status": {}}, missing) == build.waiting_reason(missing)
    assert build.waiting_reason(_pod({"waiting": {"reason": "ContainerCreating"}})) is None
    assert not build.started(_pod({"waiting": {"reason": "ContainerCreating"}}))
    assert build.started(_pod({"running": {}})) and build.started(_pod({"terminated": {"exitCode": 0}}))
