"""The template aggregate: registered once, a new version only when the definition changes, every version kept."""

from __future__ import annotations

from datetime import UTC, datetime

from libs.contracts.build_commands import SaveTemplate
from libs.contracts.errors import Conflict, InvalidInput
from libs.contracts.template import SupportStatus, TemplateDefinition, TemplateRegistered, TemplateVersionAdded
from libs.testing.given_when_then import Aggregate
from services.builder import template

NOW = datetime(2026, 1, 1, tzinfo=UTC)
V1 = TemplateDefinition(repository="studios/jupyter:4", tool="jupyter")
V2 = V1.model_copy(update={"conda_environment": "dependencies:\n  - pip:\n    - tinypkg\n",
                           "status": SupportStatus.EXPERIMENTAL})
COMMON = {"template_id": "lab", "at": NOW, "actor": "1", "reason": None}
spec = Aggregate.of(template)


def save(d: TemplateDefinition, *, create: bool = False, template_id: str = "lab") -> SaveTemplate:
    return SaveTemplate(template_id=template_id, definition=d, now=NOW, actor="1", create=create)


def test_a_new_template_is_version_one() -> None:
    state = spec.given().when(save(V1)).then(TemplateRegistered(**COMMON, version=1, definition=V1))
    assert state.version == 1 and state.latest == V1


def test_a_changed_definition_adds_a_version_and_keeps_the_old_one() -> None:
    state = spec.given(TemplateRegistered(**COMMON, version=1, definition=V1)).when(save(V2)).then(
        TemplateVersionAdded(**COMMON, version=2, definition=V2))
    assert state.versions == (V1, V2)


def test_saving_the_same_definition_again_is_nothing_and_a_create_over_another_is_a_conflict() -> None:
    given = spec.given(TemplateRegistered(**COMMON, version=1, definition=V1))
    given.when(save(V1)).then_nothing()
    given.when(save(V1, create=True)).then_nothing()
    given.when(save(V2, create=True)).then_raises(Conflict)


def test_bad_definitions_are_refused_with_the_field_named() -> None:
    err = spec.given().when(save(V1.model_copy(update={"tool": "emacs"}))).then_raises(InvalidInput, "unknown tool")
    assert getattr(err, "extra", {}).get("field") == "tool"
    spec.given().when(save(V1.model_copy(update={"tool": "custom"}))).then_raises(InvalidInput, "command")
    spec.given().when(save(V1, template_id="Bad Id")).then_raises(InvalidInput, "template id")
    spec.given().when(save(V1.model_copy(update={"build_for": ("mainframe",)}))).then_raises(InvalidInput)
