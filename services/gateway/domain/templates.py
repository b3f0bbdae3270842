"""The built-in Studio templates served by ``GET /studios/templates`` and picked by ``dataStudioToolUrl``.

A template is known by its repository (Seqera's ``dataStudioToolUrl`` is a container image reference).
The ``custom`` tool runs ``configuration.command``, which must serve HTTP on ``$CONNECT_TOOL_PORT``.
"""

from __future__ import annotations

from libs.contracts.errors import InvalidInput
from libs.contracts.studio import StudioTemplate

JUPYTER = StudioTemplate(repository="studios/jupyter:4", tool="jupyter", icon="jupyter", status="recommended")
HTTP_ECHO = StudioTemplate(repository="studios/http-echo:1", tool="http-echo", icon="http", status="experimental")
CUSTOM = StudioTemplate(repository="studios/custom:1", tool="custom", icon="terminal", status="experimental")

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
