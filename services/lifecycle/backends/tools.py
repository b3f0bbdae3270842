"""Tool templates: how a ``LaunchSpec`` becomes a command line serving HTTP on 127.0.0.1:<port>.

How each tool is kept private to the gateway proxy (the per-session secret):
- ``http-echo``: we own the tool; it answers 403 unless the request carries ``X-Studios-Secret: <secret>``.
- ``jupyter``: the secret is the Jupyter token (``--IdentityProvider.token``); the proxy adds
  ``Authorization: token <secret>``. Jupyter answers 403 to API calls without it.
- ``custom``: we cannot enforce anything inside an arbitrary command. It gets the secret in
  ``STUDIOS_SESSION_SECRET`` and the proxy sends ``X-Studios-Secret: <secret>`` on every request; a custom tool
  that cares should check it. It is still only bound to 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable

from services.lifecycle.backends.base import LaunchError, LaunchSpec

SECRET_HEADER = "X-Studios-Secret"


class ToolUnavailable(LaunchError):
    """The template's tool is not installed where the backend runs it."""


def build_command(spec: LaunchSpec, port: int) -> list[str]:
    try:
        builder = _BUILDERS[spec.tool]
    except KeyError:
        raise ValueError(f"unknown tool {spec.tool!r}; expected one of {sorted(_BUILDERS)}") from None
    return builder(spec, port)


def environment(spec: LaunchSpec, inherited: dict[str, str]) -> dict[str, str]:
    """What running "in the built environment" means for a local tool: its ``bin`` first on ``PATH`` (a custom
    command's ``python``, a terminal's ``pip``), ``VIRTUAL_ENV``, and its site-packages first on ``PYTHONPATH``, so
    a tool started by the control plane's interpreter (JupyterLab, and the kernels it starts with that same
    interpreter) imports the environment's packages before its own."""
    if spec.python_env is None:
        return {}
    venv = spec.python_env
    site = sorted(venv.glob("lib/python*/site-packages"))
    out = {"VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join(p for p in (str(venv / "bin"), inherited.get("PATH"))
                                                              if p)}
    if site:
        out["PYTHONPATH"] = os.pathsep.join(p for p in (str(site[0]), inherited.get("PYTHONPATH")) if p)
    return out


def proxy_headers(spec: LaunchSpec) -> dict[str, str]:
    """Headers the gateway proxy must add so the tool lets it in."""
    if spec.tool == "jupyter":
        return {"Authorization": f"token {spec.secret}"}
    return {SECRET_HEADER: spec.secret}


def _jupyter(spec: LaunchSpec, port: int) -> list[str]:
    if importlib.util.find_spec("jupyterlab") is None:
        raise ToolUnavailable("the jupyter tool needs jupyterlab: install the 'jupyter' extra")
    command = [
        # JupyterLab minus imports that cost start time and serve no user (tools/lab.py; docs/pools.md)
        sys.executable, "-m", "services.lifecycle.tools.lab", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={spec.base_path}",
        f"--ServerApp.root_dir={spec.workspace_dir}",
        f"--IdentityProvider.token={spec.secret}",
        # No allow_origin: Jupyter then accepts an Origin only when it names the Host asked for, and the proxy
        # forwards the browser's Host, so that is exactly the studio's origin (its own in subdomain mode) whatever
        # the domain; XSRF protection stays on. The proxy also refuses other origins itself (proxy/origin.py).
        "--ServerApp.allow_remote_access=True",
        # Nothing that phones home or shells out at start-up: keeps start-up fast and offline.
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--LanguageServerManager.autodetect=False",
    ]
    # Jupyter refuses to run as root unless told; containers often run as root.
    return [*command, "--allow-root"] if os.geteuid() == 0 else command


def _http_echo(spec: LaunchSpec, port: int) -> list[str]:
    return [sys.executable, "-m", "services.lifecycle.tools.http_echo", "--port", str(port)]


def _custom(spec: LaunchSpec, port: int) -> list[str]:
    if not spec.command:
        raise ValueError("a custom tool needs a non-empty command that serves HTTP on $CONNECT_TOOL_PORT")
    return list(spec.command)


_BUILDERS: dict[str, Callable[[LaunchSpec, int], list[str]]] = {
    "jupyter": _jupyter,
    "http-echo": _http_echo,
    "custom": _custom,
}
