"""A pooled JupyterLab (``python -m services.lifecycle.pools.warm <bind fifo>``): it pays for the tool's imports
now (most of a lab's start: ~1.4 CPU-seconds of ~1.6 s) and serves nothing until it is bound.

It waits on its bind FIFO, which only exists under lifecycle's state folder. The one message it acts on is JSON
``{"secret", "cwd", "env", "argv"}`` whose ``secret`` is this process's pool secret (``STUDIOS_SESSION_SECRET`` at
spawn, known to lifecycle alone): then it changes to the studio's workspace, takes the studio's markers into its
environment (kernels and terminals inherit them) and runs ``jupyter lab`` with the studio's argv -- its base URL,
port and token, the studio's run secret, which the gateway proxy derives and injects. Before that message it
listens on no port at all, so no one can reach it; the pool secret never becomes a credential of the tool.
A probe (lifecycle opening the FIFO to see whether a reader waits) gives an empty read, which is ignored; a
message it cannot use ends the process (the pool replaces it): it never serves half-configured.
"""

from __future__ import annotations

import hmac
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from services.lifecycle.tools.lab import leave_out_slow_imports

#: imported ahead of time: the server, the lab, the extensions and handlers it loads at start, and IPython (the
#: server imports it while it initializes). Found by listing what a lab imports after its own import; a module
#: missing here is imported at bind, which costs time, not correctness; missing packages are skipped.
PRELOAD = (
    "jupyterlab.labapp", "jupyter_server.serverapp", "jupyter_server_terminals", "jupyter_lsp",
    "jupyter_lsp.virtual_documents_shadow", "notebook_shim", "notebook_shim.nbserver", "jupyterlab_server.handlers",
    "jupyter_server.services.kernels.kernelmanager", "jupyter_server.services.sessions.sessionmanager",
    "jupyter_server.services.contents.largefilemanager", "jupyter_server.gateway.managers",
    "jupyter_server.kernelspecs.handlers", "jupyter_server.nbconvert.handlers", "jupyter_server.services.api.handlers",
    "jupyter_server.services.config.handlers", "jupyter_server.services.contents.handlers",
    "jupyter_server.services.events.handlers", "jupyter_server.services.kernels.handlers",
    "jupyter_server.services.kernelspecs.handlers", "jupyter_server.services.nbconvert.handlers",
    "jupyter_server.services.security.handlers", "jupyter_server.services.sessions.handlers",
    "jupyter_server.services.shutdown", "jupyter_server.view.handlers", "tornado.platform.asyncio", "jinja2.ext",
    "IPython", "argcomplete", "traitlets.config.argcomplete_config",
)


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def read_bind(fifo: Path, secret: str) -> dict[str, Any]:
    """Block until a writer sends a whole message; empty reads (probes) are waited through."""
    while True:
        with fifo.open("rb") as f:  # blocks until a writer opens the other end
            data = f.read()
        if not data:
            continue
        message = json.loads(data)
        if not isinstance(message, dict) or not hmac.compare_digest(str(message.get("secret", "")), secret):
            raise SystemExit("bind message refused: not from lifecycle")
        return message


def serve(message: dict[str, Any]) -> int:
    from jupyterlab.labapp import main

    os.chdir(str(message["cwd"]))
    os.environ.update({str(k): str(v) for k, v in dict(message["env"]).items()})
    sys.argv = ["jupyter-lab", *[str(a) for a in message["argv"]]]
    return int(main() or 0)


def run(argv: list[str]) -> int:
    fifo = Path(argv[0])
    secret = os.environ.pop("STUDIOS_SESSION_SECRET", "")
    leave_out_slow_imports()
    preload()
    return serve(read_bind(fifo, secret))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
