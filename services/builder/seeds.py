"""The built-in templates: seed data of the registry, saved at every builder start (a no-op once they are there).

Their ids are the repository's name and tag (``studios/jupyter:4`` is ``jupyter-4``), so ``dataStudioToolUrl``
and the registry name the same thing.
"""

from __future__ import annotations

from libs.contracts.template import SupportStatus, TemplateDefinition

BUILT_IN: dict[str, TemplateDefinition] = {
    "jupyter-4": TemplateDefinition(repository="studios/jupyter:4", tool="jupyter", icon="jupyter",
                                    description="JupyterLab 4", status=SupportStatus.RECOMMENDED, base_path=True),
    "http-echo-1": TemplateDefinition(repository="studios/http-echo:1", tool="http-echo", icon="http",
                                      description="A tiny HTTP and WebSocket echo, for trying things out",
                                      status=SupportStatus.EXPERIMENTAL, base_path=True),
    "custom-1": TemplateDefinition(repository="studios/custom:1", tool="custom", icon="terminal",
                                   description="Any command serving HTTP on $CONNECT_TOOL_PORT",
                                   status=SupportStatus.EXPERIMENTAL, base_path=False,
                                   command=("sh", "-c", "python -m http.server $CONNECT_TOOL_PORT")),
}


def template_id(repository: str) -> str:
    """``studios/jupyter:4`` -> ``jupyter-4``: the registry id a repository reference maps to."""
    name = repository.strip().rsplit("/", 1)[-1]
    return name.replace(":", "-").lower()
