"""Built-in templates: picked by repository, and the custom tool's command rule."""

from __future__ import annotations

import pytest

from libs.contracts.errors import InvalidInput
from services.gateway.domain import templates

COMMAND = ("sh", "-c", "python -m http.server $CONNECT_TOOL_PORT")


def test_no_repository_is_the_default_and_an_unknown_one_is_refused() -> None:
    assert templates.by_repository(None) is templates.DEFAULT
    assert templates.by_repository(" studios/custom:1 ") is templates.CUSTOM
    with pytest.raises(InvalidInput, match="Unknown Studio template"):
        templates.by_repository("studios/nope:1")


def test_the_custom_tool_runs_a_command_where_the_compute_environment_allows_it() -> None:
    templates.check_command("custom", COMMAND, custom_allowed=True)
    templates.check_command("jupyter", None, custom_allowed=False)


@pytest.mark.parametrize(("tool", "command", "allowed", "message"), [
    ("custom", None, True, "needs configuration.command"),
    ("jupyter", COMMAND, True, "only for the custom template"),
    ("custom", COMMAND, False, "does not allow custom commands"),
])
def test_a_command_out_of_place_is_refused(tool: str, command: tuple[str, ...] | None, allowed: bool,
                                           message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        templates.check_command(tool, command, custom_allowed=allowed)
