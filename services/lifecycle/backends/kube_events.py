"""Why a pod's start is slow or failed: its events and status turned into a progress line, warnings and a failure.

Pure (the API's JSON shapes in, plain values out), so the mapping is unit-tested without a cluster
(tests/unit/test_kube_events.py). ``KubernetesBackend`` calls it while it waits for a pod to become ready; the
detail and warnings go on the start's *Waiting for … to respond* step, and a failure ends the start with its reason
instead of letting it run into the ready timeout (an image that cannot be pulled will not be pulled by waiting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: waiting reasons after which the container will not start without someone changing something
FATAL_WAITING = frozenset({"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName",
                           "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
#: normal events, in the order a start goes through them, and the line each one shows
_STAGES: tuple[tuple[str, str], ...] = (
    ("TriggeredScaleUp", "the cluster autoscaler is adding a node"),
    ("Scheduled", "scheduled"),
    ("SuccessfulAttachVolume", "workspace volume attached"),
    ("Pulling", "pulling the image"),
    ("Pulled", "image pulled"),
    ("Created", "container created"),
    ("Started", "container started; waiting for the tool to answer"),
)
_RANK = {reason: rank for rank, (reason, _) in enumerate(_STAGES)}
#: warning events and how to say them; others are shown as ``<reason>: <message>``
_WARNINGS = {
    "FailedScheduling": "no node can run it yet",
    "NotTriggerScaleUp": "the cluster autoscaler cannot add a node for it",
    "FailedMount": "the workspace volume is not mounted yet",
    "FailedAttachVolume": "the workspace volume is not attached yet",
    "BackOff": "backing off",
    "Failed": "failed",
    "Unhealthy": "the tool does not answer yet",
    "Evicted": "evicted",
}


@dataclass(frozen=True)
class StartProgress:
    detail: str
    warnings: tuple[str, ...] = ()
    failure: str | None = None  # set: the start cannot succeed; the reason to record


def _when(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")


def _message(event: Mapping[str, Any]) -> str:
    return " ".join(str(event.get("message") or "").split())  # one line: progress details are single lines


def warning(event: Mapping[str, Any]) -> str:
    reason = str(event.get("reason") or "")
    said = _WARNINGS.get(reason, reason)
    return f"{said} ({reason}): {_message(event)}" if reason in _WARNINGS else f"{reason}: {_message(event)}"


def _stage(events: list[Mapping[str, Any]]) -> str:
    """The furthest normal stage reached, with the event's own words for the ones that name a node or a time."""
    reached = [e for e in events if e.get("type") != "Warning" and e.get("reason") in _RANK]
    if not reached:
        return "waiting for a node"
    last = max(reached, key=lambda e: (_RANK[str(e["reason"])], _when(e)))
    line = dict(_STAGES)[str(last["reason"])]
    if last["reason"] in ("Scheduled", "Pulled", "Pulling"):
        return f"{line}: {_message(last)}"
    return line


def _container_state(pod: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """(waiting or terminated reason, its message) of the tool container, if the kubelet reports one."""
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or ():
        state = status.get("state") or {}
        for kind in ("waiting", "terminated"):
            if kind in state and state[kind].get("reason"):
                return str(state[kind]["reason"]), " ".join(str(state[kind].get("message") or "").split())
    return None, ""


def start_progress(pod: Mapping[str, Any] | None, events: Iterable[Mapping[str, Any]]) -> StartProgress:
    """What a start shows now: the stage reached, the distinct warnings (latest reason first), and a failure when
    the container cannot start (a bad image, a bad configuration) or was killed for memory."""
    ordered = sorted(events, key=_when)
    seen: dict[str, str] = {}
    for event in ordered:
        if event.get("type") == "Warning":
            key = str(event.get("reason") or "")
            seen.pop(key, None)  # a repeated reason shows its latest words, in its latest place
            seen[key] = warning(event)
    warnings = tuple(reversed(list(seen.values())))
    reason, message = _container_state(pod)
    failure = None
    if reason in FATAL_WAITING:
        failure = f"{reason}: {message}" if message else reason
    elif reason == "OOMKilled":
        failure = "the tool ran out of memory (OOMKilled)"
    elif ((pod or {}).get("status") or {}).get("reason") == "Evicted":
        failure = f"evicted: {(pod or {}).get('status', {}).get('message', '')}".rstrip(": ")
    return StartProgress(_stage(ordered), warnings, failure)


def exit_message(pod: Mapping[str, Any]) -> str:
    """Why an ended pod's tool ended, when the kubelet says more than an exit code; or why it never started: an
    init container (a data link's sync, ``kube_links.py``) that failed, in its own words."""
    if (failed := init_failure(pod)) is not None:
        return failed
    reason, message = _container_state(pod)
    if reason == "OOMKilled":
        return "out of memory (OOMKilled)"
    if reason is None or reason in ("Completed", "Error"):
        return ""
    return f"{reason}: {message}" if message else reason


def init_failure(pod: Mapping[str, Any]) -> str | None:
    """The first init container that ended in failure: its name, exit code and termination message."""
    for status in (pod.get("status") or {}).get("initContainerStatuses") or ():
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode") not in (0, None):
            message = str(terminated.get("message") or "").strip()
            head = f"{status.get('name')} failed (exit code {terminated.get('exitCode')})"
            return f"{head}: {message}" if message else head
    return None
