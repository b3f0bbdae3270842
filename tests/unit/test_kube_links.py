"""``s3://`` data links in a pod: init containers sync each link into an emptyDir the tool mounts read-only, with the
credentials in a per-run Secret read by reference. Every object against the official schemas (strict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from libs.datalinks.credentials import Credentials
from libs.datalinks.s3 import LinkAccess, S3Location
from services.lifecycle.backends import LaunchSpec
from services.lifecycle.backends import kube_links as links
from services.lifecycle.backends import kube_objects as kube
from services.lifecycle.backends import kube_pods as pods
from services.lifecycle.datalinks.sync import PodLink

schema = pytest.importorskip("libs.testing.kube_schema", reason="kubernetes-validate (dev extra) is needed")
SECRET_KEY = "wJalrXUtnFEMI-not-a-real-one"
KEYS = Credentials("lab", access_key="AKIA1", secret_key=SECRET_KEY, endpoint="http://minio:9000")


def _link(link_id: str, name: str, creds: Credentials | None) -> PodLink:
    return PodLink(link_id, name, f"s3://bucket/{name}", f"/srv/ws/st1/data/{name}",
                   LinkAccess(S3Location.parse(f"s3://bucket/{name}"), creds, creds.id if creds else None), 100)


def spec(*pod_links: PodLink) -> LaunchSpec:
    return LaunchSpec(session_id="St1-2", studio_id="St1", tool="custom", command=["serve"],
                      workspace_dir=Path("/srv/ws/st1"), base_path="/connect/st1/", secret="s", pod_links=pod_links)


def _pod(run: LaunchSpec) -> dict[str, Any]:
    secret = links.link_secret(run, "team-a")
    return links.with_links(kube.pod(run, "tool:1", kube.KubePlacement(namespace="team-a")), run, "studios:1",
                            secret["metadata"]["name"] if secret else None)


def test_each_link_is_synced_by_an_init_container_into_a_volume_the_tool_mounts_read_only() -> None:
    run = spec(_link("L1", "ref", KEYS), _link("L2", "open", None))
    pod = schema.valid(_pod(run))
    body = pod["spec"]
    assert {"name": "links", "emptyDir": {}} in body["volumes"]
    assert not any("hostPath" in v for v in body["volumes"])  # right on any node, not only lifecycle's
    [sync1, sync2] = body["initContainers"]
    assert sync1["image"] == "studios:1"
    assert sync1["command"][:3] == ["python", "-m", "services.lifecycle.datalinks.sync"]
    assert ["--ref", "s3://bucket/ref", "--root", links.ROOT, "--link", "L1"] == sync1["command"][3:9]
    assert sync1["volumeMounts"] == [{"name": "links", "mountPath": links.ROOT}]
    [tool] = body["containers"]
    assert {"name": "links", "mountPath": "/workspace/data/ref", "subPath": "copies/L1", "readOnly": True} in \
        tool["volumeMounts"]
    assert {"name": "links", "mountPath": "/workspace/data/open", "subPath": "copies/L2", "readOnly": True} in \
        tool["volumeMounts"]
    assert sync2["env"] == []  # a public link: no keys, anonymous


def test_the_keys_are_in_the_runs_secret_and_reach_the_pod_by_reference_only() -> None:
    run = spec(_link("L1", "ref", KEYS))
    secret = schema.valid(links.link_secret(run, "team-a") or {})
    assert secret["metadata"]["name"] == "studios-links-st1-2"
    assert secret["stringData"] == {"link-0-access-key": "AKIA1", "link-0-secret-key": SECRET_KEY,
                                    "link-0-endpoint": "http://minio:9000"}
    pod = _pod(run)
    assert SECRET_KEY not in json.dumps(pod) and "AKIA1" not in json.dumps(pod)
    [sync] = pod["spec"]["initContainers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in sync["env"]}
    assert refs["STUDIOS_LINK_SECRET_ACCESS_KEY"] == {"name": "studios-links-st1-2", "key": "link-0-secret-key",
                                                      "optional": True}
    assert SECRET_KEY not in repr(run)  # the launch spec never shows them either


def test_the_secret_is_owned_by_the_pod_so_it_goes_with_it() -> None:
    run = spec(_link("L1", "ref", KEYS))
    created = {**_pod(run), "metadata": {**_pod(run)["metadata"], "uid": "u-9"}}
    owned = schema.valid(pods.owned_by(links.link_secret(run, "team-a") or {}, created))
    assert owned["metadata"]["ownerReferences"][0]["uid"] == "u-9"


def test_public_links_need_no_secret_and_a_run_without_links_is_unchanged() -> None:
    assert links.link_secret(spec(_link("L2", "open", None)), "team-a") is None
    plain = kube.pod(spec(), "tool:1", kube.KubePlacement(namespace="team-a"))
    assert links.with_links(plain, spec()) is plain


def test_a_failed_sync_is_why_the_session_ended_in_the_syncs_own_words() -> None:
    pod = {"status": {"phase": "Failed", "initContainerStatuses": [
        {"name": "sync-link-0", "state": {"terminated": {"exitCode": 2, "message": "data link ref holds 9.0 MiB, more "
                                                         "than the 1.0 MiB ... (STUDIOS_DATALINK_COPY_MAX_MB)\n"}}}],
        "containerStatuses": [{"name": "tool", "state": {"waiting": {"reason": "PodInitializing"}}}]}}
    status = pods.status_of(pod)
    assert status.message.startswith("sync-link-0 failed (exit code 2): data link ref holds 9.0 MiB")
    assert "STUDIOS_DATALINK_COPY_MAX_MB" in status.message
