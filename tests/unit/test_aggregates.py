"""One aggregate convention: every aggregate module has ``decide``, ``evolve`` and ``INITIAL``, so the one
given/when/then helper serves them all, and anything else is refused by name."""

from __future__ import annotations

import types

import pytest

from libs.testing.given_when_then import Aggregate
from services.checkpoints import checkpoint
from services.gateway.domain import organization, resources, studio_settings, token, user, workspace
from services.lifecycle.studio import aggregate as studio

MODULES = (user, token, organization, workspace, resources, studio_settings, studio, checkpoint)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_aggregate_module_follows_the_convention(module: types.ModuleType) -> None:
    spec = Aggregate.of(module)
    assert spec.given().state == module.INITIAL  # nothing happened yet: the initial state
    assert callable(spec.decide) and callable(spec.evolve)


def test_a_module_that_is_no_aggregate_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="lacks decide, evolve, INITIAL"):
        Aggregate.of(types)
