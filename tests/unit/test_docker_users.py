"""Who a docker session runs as (services/lifecycle/backends/users.py): pure rules, and the workspace's owner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.lifecycle.backends import users


def test_the_configured_user_runs_unless_the_image_names_its_own() -> None:
    assert users.container_user("1000:1000", None) == "1000:1000"
    assert users.container_user("1000:1000", "jovyan") is None  # the image says otherwise: its USER stands
    assert users.container_user("", None) is None  # configured empty: the image's default


def test_numeric_users_are_ids_and_names_are_not() -> None:
    assert users.ids("1000:1000") == (1000, 1000)
    assert users.ids("4321") == (4321, 4321)
    assert users.ids("1000:100") == (1000, 100)
    assert users.ids("jovyan") is None and users.ids("1000:staff") is None and users.ids(None) is None


def test_the_container_runs_as_the_user_with_the_workspace_as_home_unless_set() -> None:
    config = {"Image": "x", "Env": ["A=1"]}
    assert users.apply(config, "1000:1000", "/workspace") == {"Image": "x", "Env": ["A=1", "HOME=/workspace"],
                                                              "User": "1000:1000"}
    assert users.apply({"Env": ["HOME=/home/me"]}, "1000", "/workspace")["Env"] == ["HOME=/home/me"]
    assert users.apply(config, None, "/workspace") is config


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another uid needs root")
def test_the_workspace_and_what_is_in_it_become_the_users(tmp_path: Path) -> None:
    (tmp_path / "restored").mkdir()
    (tmp_path / "restored" / "notebook.ipynb").write_text("{}")
    users.own(tmp_path, (1000, 1000))
    assert {(p.stat().st_uid, p.stat().st_gid) for p in (tmp_path, *tmp_path.rglob("*"))} == {(1000, 1000)}
