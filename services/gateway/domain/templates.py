"""The built-in Studio templates served by ``GET /studios/templates`` and picked by ``dataStudioToolUrl``.

A template is known by its repository (Seqera's ``dataStudioToolUrl`` is a container image reference).
The ``custom`` tool runs ``configuration.command``, which must serve HTTP on ``$CONNECT_TOOL_PORT``.
"""

from __future__ import annotations

from libs.contracts.errors import InvalidInput
from libs.contracts.studio import StudioTemplate

JUPYTER = StudioTemplate(repository="studios/jupyter:4", tool="jupyter", icon="jupyter", status="recommended",
                         base_path=True)
HTTP_ECHO = StudioTemplate(repository="studios/http-echo:1", tool="http-echo", icon="http", status="experimental",
                           base_path=True)
#: Any command serving HTTP on $CONNECT_TOOL_PORT: served at ``/`` (``python -m http.server`` knows no prefix).
CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom", icon="terminal", status="experimental",
                        base_path=False)

CATALOGUE: tuple[StudioTemplate, ...] = (JUPYTER, HTTP_ECHO, CUSTOM)
DEFAULT = JUPYTER


def by_repository(url: str | None) -> StudioTemplate:
    """The template named by ``dataStudioToolUrl``; none given: the default (JupyterLab)."""
    if url is None or not url.strip():
        return DEFAULT
    wanted = url.strip()
    for template in CATALOGUE:
        if wanted == template.repository:
            return template
    known = ", ".join(t.repository for t in CATALOGUE)
    raise InvalidInput(f"Unknown Studio template {wanted!r}; known templates: {known}", field="dataStudioToolUrl")


def page(max_: int | None, offset: int | None) -> tuple[list[StudioTemplate], int]:
    start = offset or 0
    items = list(CATALOGUE[start:]) if max_ is None else list(CATALOGUE[start : start + max_])
    return items, len(CATALOGUE)


def check_command(tool: str, command: tuple[str, ...] | None, custom_allowed: bool) -> None:
    """Only the ``custom`` tool takes a command, it needs one, and only where the compute environment allows
    custom commands (a local one lets them run anything on the host)."""
    if tool == "custom" and not command:
        raise InvalidInput("The custom template needs configuration.command", field="configuration.command")
    if tool != "custom" and command:
        raise InvalidInput("configuration.command is only for the custom template", field="configuration.command")
    if tool == "custom" and not custom_allowed:
        raise InvalidInput("This compute environment does not allow custom commands", field="computeEnvId")
