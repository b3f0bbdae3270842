"""The template aggregate (stream ``template-<id>``): pure ``decide``/``evolve``. Every version is kept."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from libs.contracts.build_commands import SaveTemplate
from libs.contracts.errors import Conflict, InvalidInput
from libs.contracts.events import Event
from libs.contracts.template import TOOLS, TemplateDefinition, TemplateRegistered, TemplateVersionAdded

__all__ = ["INITIAL", "State", "decide", "evolve"]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class State(BaseModel):
    model_config = ConfigDict(frozen=True)

    template_id: str | None = None
    versions: tuple[TemplateDefinition, ...] = ()

    @property
    def version(self) -> int:
        return len(self.versions)

    @property
    def latest(self) -> TemplateDefinition | None:
        return self.versions[-1] if self.versions else None


INITIAL = State()


def validate(template_id: str, d: TemplateDefinition) -> None:
    if not _ID.match(template_id):
        raise InvalidInput(f"template id {template_id!r} must match {_ID.pattern}", field="id")
    if d.tool not in TOOLS:
        raise InvalidInput(f"unknown tool {d.tool!r}; one of {', '.join(TOOLS)}", field="tool")
    if not d.repository.strip():
        raise InvalidInput("a template needs a repository", field="repository")
    if d.tool == "custom" and not d.command:
        raise InvalidInput("a custom template needs a command", field="command")
    if d.port is not None and not 0 < d.port < 65536:
        raise InvalidInput("port must be between 1 and 65535", field="port")
    unknown = [c for c in d.build_for if c not in ("local", "docker", "kubernetes")]
    if unknown:
        raise InvalidInput(f"unknown build configurations {unknown}", field="buildFor")


def decide(state: State, c: SaveTemplate) -> list[Event]:
    if not isinstance(c, SaveTemplate):
        raise InvalidInput(f"unknown template command {type(c).__name__}")
    validate(c.template_id, c.definition)
    assert c.now is not None, "the handler stamps now"
    fields = {"template_id": c.template_id, "at": c.now, "actor": c.actor, "reason": c.reason}
    if state.latest is None:
        return [TemplateRegistered(**fields, version=1, definition=c.definition)]
    if state.latest == c.definition:
        return []  # the same definition again (a seed at every start, a retried request)
    if c.create:
        raise Conflict(f"template {c.template_id} already exists", field="id")
    return [TemplateVersionAdded(**fields, version=state.version + 1, definition=c.definition)]


def evolve(state: State, event: Event) -> State:
    if isinstance(event, TemplateRegistered | TemplateVersionAdded):
        return state.model_copy(update=dict(template_id=event.template_id,
                                            versions=(*state.versions, event.definition)))
    return state
