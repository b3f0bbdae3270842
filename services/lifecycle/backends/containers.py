"""Pure translation between a ``LaunchSpec`` and the Docker Engine API's objects, for ``DockerBackend``.

No I/O here, so the shape of what is sent to the engine (labels, limits, mounts, the port bound to 127.0.0.1 only)
is unit-tested without one (tests/unit/test_docker_containers.py).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from services.lifecycle.backends.base import Handle, LaunchError, LaunchSpec, SessionState, Status

TOOL_PORT = 8080  # inside the container; the engine publishes it on a free port of 127.0.0.1
WORKSPACE = "/workspace"  # where the workspace volume is mounted, and the tool's working directory
#: tools the docker backend knows: ``custom`` runs the spec's command, ``jupyter`` JupyterLab from the image; every
#: other one runs the image's own command, which must serve HTTP on ``$CONNECT_TOOL_PORT`` (Seqera's contract)
TOOLS = frozenset({"custom", "jupyter", "http-echo", "vscode", "rstudio", "xpra"})
LABEL_STUDIO, LABEL_SESSION, LABEL_OWNER, LABEL_SCOPE = "studios.studio", "studios.session", "studios.owner", \
    "studios.scope"
SPOT_WARNING = "spot ignored: a Docker engine has no spot capacity"


def container_name(session_id: str) -> str:
    return f"studios-{session_id}"


def volume_name(spec: LaunchSpec) -> str:
    """One workspace volume per studio (not per run): it outlives its containers, as the workspace folder does,
    and goes with the folder once the studio is deleted (``DockerBackend.forget_workspace``)."""
    return workspace_volume(spec.studio_id, spec.workspace_dir)


def workspace_volume(studio_id: str, workspace_dir: Path) -> str:
    """Named for the folder too, so two installations (or test runs) sharing an engine never share a volume."""
    folder = hashlib.sha256(str(workspace_dir).encode()).hexdigest()[:12]
    return f"studios-ws-{re.sub(r'[^A-Za-z0-9_.-]', '-', studio_id)}-{folder}"


def volume_config(spec: LaunchSpec) -> dict[str, Any]:
    """A named volume whose data is the session's workspace folder on this host (a ``local`` bind volume), so the
    checkpoints service reads and restores the workspace where it does for local sessions."""
    return {"Name": volume_name(spec), "Driver": "local",
            "DriverOpts": {"type": "none", "o": "bind", "device": str(spec.workspace_dir)},
            "Labels": {LABEL_STUDIO: spec.studio_id}}


def command(spec: LaunchSpec) -> list[str] | None:
    """The container's command; None runs the image's own. Raises ValueError for a tool it does not know."""
    if spec.tool not in TOOLS:
        raise ValueError(f"unknown tool {spec.tool!r}; expected one of {sorted(TOOLS)}")
    if spec.tool == "custom":
        if not spec.command:
            raise ValueError("a custom tool needs a non-empty command that serves HTTP on $CONNECT_TOOL_PORT")
        return list(spec.command)
    if spec.tool == "jupyter":
        return ["jupyter", "lab", "--no-browser", "--allow-root", "--ip=0.0.0.0", f"--port={TOOL_PORT}",
                "--ServerApp.port_retries=0", f"--ServerApp.base_url={spec.base_path}",
                f"--ServerApp.root_dir={WORKSPACE}", f"--IdentityProvider.token={spec.secret}",
                "--ServerApp.allow_remote_access=True", "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    return None


def environment(spec: LaunchSpec) -> list[str]:
    env = {**spec.environment, "CONNECT_TOOL_PORT": str(TOOL_PORT), "STUDIOS_SESSION_ID": spec.session_id,
           "STUDIOS_STUDIO_ID": spec.studio_id, "STUDIOS_SESSION_SECRET": spec.secret,
           "STUDIOS_BASE_PATH": spec.base_path, "PYTHONUNBUFFERED": "1"}
    return [f"{key}={value}" for key, value in env.items()]


def inside(spec: LaunchSpec, target: str) -> str:
    """Where a host path under the workspace folder appears in the container."""
    try:
        return str(Path(WORKSPACE) / Path(target).relative_to(spec.workspace_dir))
    except ValueError:
        return str(Path("/data") / Path(target).name)


def container_config(spec: LaunchSpec, image: str, scope: str, network: str | None = None) -> dict[str, Any]:
    port = f"{TOOL_PORT}/tcp"
    binds = [f"{volume_name(spec)}:{WORKSPACE}"]
    binds += [f"{source}:{inside(spec, target)}:ro" for source, target in spec.read_only_mounts]
    host: dict[str, Any] = {
        "Binds": binds,
        # 127.0.0.1 only: the gateway proxy on this host reaches the tool, nothing else on the network does.
        "PortBindings": {port: [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        "RestartPolicy": {"Name": "no"},
    }
    if spec.cpu:
        host["NanoCpus"] = int(spec.cpu * 1_000_000_000)
    if spec.memory_mib:
        host["Memory"] = spec.memory_mib * 2**20
    if spec.gpu:
        host["DeviceRequests"] = [{"Driver": "", "Count": spec.gpu, "Capabilities": [["gpu"]]}]
    if network:
        host["NetworkMode"] = network
    config: dict[str, Any] = {
        "Image": image, "Env": environment(spec), "WorkingDir": WORKSPACE, "ExposedPorts": {port: {}},
        "Labels": labels(spec, scope), "HostConfig": host, "Tty": False, "OpenStdin": False,
    }
    cmd = command(spec)
    if cmd is not None:
        config["Cmd"] = cmd
    return config


def labels(spec: LaunchSpec, scope: str) -> dict[str, str]:
    return {LABEL_STUDIO: spec.studio_id, LABEL_SESSION: spec.session_id,
            LABEL_OWNER: spec.labels.get("user", ""), LABEL_SCOPE: scope}


def describe(spec: LaunchSpec) -> str:
    parts = [f"{spec.cpu} cpu" if spec.cpu else "", f"{spec.memory_mib} MiB" if spec.memory_mib else "",
             f"{spec.gpu} gpu" if spec.gpu else ""]
    limits = ", ".join(p for p in parts if p)
    text = f"container limits: {limits}" if limits else "container without limits"
    return f"{text}; {SPOT_WARNING}" if spec.spot else text


def started_at(iso: str) -> float:
    """Epoch seconds of an engine timestamp (nanosecond precision, ``Z`` or an offset)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", iso.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).timestamp()


def handle_of(info: dict[str, Any], backend: str, limits: str = "") -> Handle:
    """The handle of a container from its inspect document."""
    session = info["Config"]["Labels"][LABEL_SESSION]
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    bound = ports.get(f"{TOOL_PORT}/tcp") or []
    if not bound:
        raise LaunchError(f"the engine published no port for session {session}")
    return Handle(session, backend, info["Id"], "127.0.0.1", int(bound[0]["HostPort"]),
                  started_at(info["State"]["StartedAt"]), limits)


def exit_code(code: int | None) -> int | None:
    """The engine reports death by signal N as 128+N; the port says -N, as subprocess does."""
    if code is not None and 128 < code <= 128 + 64:
        return -(code - 128)
    return code


def status_of(info: dict[str, Any], last_lines: str) -> Status:
    state = info["State"]
    if state.get("Running") or state.get("Status") in ("created", "configured", "restarting"):
        return Status(SessionState.RUNNING)
    message = last_lines or ("out of memory" if state.get("OOMKilled") else str(state.get("Error") or ""))
    return Status(SessionState.EXITED, exit_code(state.get("ExitCode")), message)


def grace_seconds(grace: float) -> int:
    return max(0, math.ceil(grace))  # the engine takes whole seconds
