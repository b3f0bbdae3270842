"""Pod events and status turned into what a start shows: the stage, the warnings and a failure (pure)."""

from __future__ import annotations

from typing import Any

from services.lifecycle.backends.kube_events import exit_message, start_progress


def event(reason: str, message: str = "", kind: str = "Normal", at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"type": kind, "reason": reason, "message": message, "lastTimestamp": at,
            "involvedObject": {"kind": "Pod", "name": "studios-st1-1"}}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"status": {"phase": "Pending", "containerStatuses": [
        {"name": "tool", "state": {"waiting": {"reason": reason, "message": message}}}]}}


def test_nothing_yet_is_waiting_for_a_node() -> None:
    assert start_progress(None, []).detail == "waiting for a node"


def test_the_furthest_stage_is_shown_with_the_events_own_words() -> None:
    events = [event("Scheduled", "Successfully assigned studios/p to node-1", at="2026-01-01T00:00:01Z"),
              event("Pulling", 'Pulling image "tool:1"', at="2026-01-01T00:00:02Z")]
    assert start_progress(None, events).detail == 'pulling the image: Pulling image "tool:1"'
    events.append(event("Started", "Started container tool", at="2026-01-01T00:00:09Z"))
    assert start_progress(None, events).detail == "container started; waiting for the tool to answer"


def test_failed_scheduling_is_a_warning_not_a_failure() -> None:
    """No node fits yet: the autoscaler may add one, so the start goes on waiting and says why it is slow."""
    events = [event("FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", "Warning"),
              event("TriggeredScaleUp", "pod triggered scale-up: [{gpu-pool 0->1}]", at="2026-01-01T00:00:05Z")]
    progress = start_progress(waiting("ContainerCreating"), events)
    assert progress.failure is None
    assert progress.warnings == (
        "no node can run it yet (FailedScheduling): 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",)
    assert progress.detail == "the cluster autoscaler is adding a node"


def test_a_repeated_warning_shows_once_with_its_latest_words_and_latest_reason_first() -> None:
    events = [event("FailedScheduling", "0/1 nodes: old", "Warning", "2026-01-01T00:00:01Z"),
              event("FailedMount", "MountVolume.SetUp failed", "Warning", "2026-01-01T00:00:02Z"),
              event("FailedScheduling", "0/2 nodes: new", "Warning", "2026-01-01T00:00:03Z")]
    assert start_progress(None, events).warnings == (
        "no node can run it yet (FailedScheduling): 0/2 nodes: new",
        "the workspace volume is not mounted yet (FailedMount): MountVolume.SetUp failed")


def test_an_image_that_cannot_be_pulled_fails_the_start_with_the_kubelets_reason() -> None:
    pod = waiting("ImagePullBackOff", 'Back-off pulling image "nope:1"')
    progress = start_progress(pod, [event("Failed", "Failed to pull image", "Warning")])
    assert progress.failure == 'ImagePullBackOff: Back-off pulling image "nope:1"'
    assert progress.warnings == ("failed (Failed): Failed to pull image",)


def test_a_first_pull_error_is_not_yet_a_failure() -> None:
    """ErrImagePull may be a registry hiccup: the kubelet retries, and only its back-off is final."""
    assert start_progress(waiting("ErrImagePull", "timeout"), []).failure is None


def test_a_bad_configuration_fails_the_start() -> None:
    assert start_progress(waiting("CreateContainerConfigError", 'secret "x" not found'), []).failure == \
        'CreateContainerConfigError: secret "x" not found'


def test_out_of_memory_is_a_failure_and_the_exit_message() -> None:
    pod = {"status": {"phase": "Failed", "containerStatuses": [
        {"name": "tool", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}
    assert start_progress(pod, []).failure == "the tool ran out of memory (OOMKilled)"
    assert exit_message(pod) == "out of memory (OOMKilled)"


def test_an_ordinary_exit_says_nothing_more_than_its_code() -> None:
    pod = {"status": {"phase": "Failed", "containerStatuses": [
        {"name": "tool", "state": {"terminated": {"reason": "Error", "exitCode": 7}}}]}}
    assert exit_message(pod) == ""


def test_an_evicted_pod_fails_the_start() -> None:
    pod = {"status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}}
    assert start_progress(pod, []).failure == "evicted: The node was low on resource: memory."
