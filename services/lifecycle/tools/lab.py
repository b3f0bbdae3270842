"""JupyterLab as the ``jupyter`` template runs it: ``python -m jupyterlab`` without the imports that cost start
time and serve no user. The control plane's venv keeps every package (the dev tools and tests that want them);
only the tool's process leaves them out.

Left out, each measured by ``bench.lifecycle`` (docs/pools.md):
- ``rfc3987_syntax`` (jupyter-events -> jsonschema[format-nongpl]) builds a Lark grammar for ~1 s at import, for
  jsonschema's ``iri``/``iri-reference`` format checks, which no schema JupyterLab validates uses. jsonschema
  imports it inside ``suppress(ImportError)``, and a ``None`` in ``sys.modules`` makes that import fail.
"""

from __future__ import annotations

import runpy
import sys

LEFT_OUT = ("rfc3987_syntax",)


def leave_out_slow_imports() -> None:
    for name in LEFT_OUT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


if __name__ == "__main__":
    leave_out_slow_imports()
    runpy.run_module("jupyterlab", run_name="__main__", alter_sys=True)
