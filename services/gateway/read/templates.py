"""Studio templates from the template registry (``read.templates``, the builder's ``template-*`` streams).

``GET /studios/templates`` lists the registry; ``dataStudioToolUrl`` names a registry template by its repository.
Until the builder has registered the built-in templates (a fresh system, or no builder running), the built-in
catalogue (``domain/templates.py``) answers both, so nothing a client could do before stops working.
"""

from __future__ import annotations

import yaml

from libs.contracts.studio import StudioConfiguration, StudioTemplate
from libs.contracts.template import TemplateDefinition
from services.gateway.domain import templates
from services.gateway.read import Db
from services.gateway.read import builds as queries


def _studio_template(d: TemplateDefinition) -> StudioTemplate:
    return StudioTemplate(repository=d.repository, tool=d.tool, icon=d.icon, status=d.status.value,
                          base_path=d.base_path)


async def page(db: Db, max_: int | None, offset: int | None) -> tuple[list[StudioTemplate], int]:
    rows, total = await queries.list_templates(db, max_, offset)
    if total == 0:
        return templates.page(max_, offset)
    return [_studio_template(TemplateDefinition.model_validate(r["definition"])) for r in rows], total


async def resolve(db: Db, url: str | None, config: StudioConfiguration) -> tuple[StudioTemplate,
                                                                                 StudioConfiguration]:
    """The template ``dataStudioToolUrl`` names, and the configuration with the template's environment where the
    request gave none (a registry template's ``condaEnvironment`` and pip requirements are built at start)."""
    wanted = (url or "").strip() or templates.DEFAULT.repository
    row = await queries.template_by_repository(db, wanted)
    if row is None:
        return templates.by_repository(url), config  # the built-in catalogue; unknown there: InvalidInput
    d = TemplateDefinition.model_validate(row["definition"])
    env = environment_yml(d)
    if config.conda_environment is None and env:
        config = config.model_copy(update={"conda_environment": env})
    if config.command is None and d.command and d.tool == "custom":
        config = config.model_copy(update={"command": d.command})
    return _studio_template(d), config


def environment_yml(d: TemplateDefinition) -> str | None:
    """The template's environment as one environment.yml: its pip requirements join the file's ``pip:`` section."""
    if not d.requirements:
        return d.conda_environment
    try:
        doc = yaml.safe_load(d.conda_environment or "") or {}
    except yaml.YAMLError:
        return d.conda_environment  # the builder reports what it cannot read
    if not isinstance(doc, dict):
        return d.conda_environment
    deps = list(doc.get("dependencies") or [])
    deps.append({"pip": list(d.requirements)})
    return yaml.safe_dump({**doc, "dependencies": deps}, sort_keys=False)
