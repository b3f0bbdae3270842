"""build_command: how each template tool becomes a command line, and the errors for bad specs."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from services.lifecycle.backends import Handle, LaunchSpec, ToolUnavailable, build_command, proxy_headers

SPEC = LaunchSpec(
    session_id="s1-1", studio_id="s1", tool="http-echo", workspace_dir=Path("/tmp/ws/s1"),
    base_path="/connect/s1/", secret="sekrit",
)


def test_http_echo_runs_our_module_on_the_port() -> None:
    assert build_command(SPEC, 4321) == [
        sys.executable, "-m", "services.lifecycle.tools.http_echo", "--port", "4321",
    ]


def test_jupyter_binds_loopback_under_base_path_with_the_secret_as_token() -> None:
    command = build_command(replace(SPEC, tool="jupyter"), 4321)
    assert command[:3] == [sys.executable, "-m", "services.lifecycle.tools.lab"]  # jupyterlab, lean (tools/lab.py)
    for flag in ("--ip=127.0.0.1", "--port=4321", "--ServerApp.base_url=/connect/s1/",
                 "--IdentityProvider.token=sekrit", "--ServerApp.root_dir=/tmp/ws/s1", "--no-browser"):
        assert flag in command


def test_jupyter_without_jupyterlab_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ToolUnavailable, match="jupyterlab"):
        build_command(replace(SPEC, tool="jupyter"), 4321)


def test_custom_runs_the_command_verbatim() -> None:
    command = ["sh", "-c", "exec my-server --port $CONNECT_TOOL_PORT"]
    assert build_command(replace(SPEC, tool="custom", command=command), 4321) == command


@pytest.mark.parametrize("command", [None, []])
def test_custom_without_a_command_is_refused(command: list[str] | None) -> None:
    with pytest.raises(ValueError, match="non-empty command"):
        build_command(replace(SPEC, tool="custom", command=command), 4321)


def test_unknown_tool_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tool 'rstudio'"):
        build_command(replace(SPEC, tool="rstudio"), 4321)


@pytest.mark.parametrize("session_id", ["../etc", "a/b", "", ".hidden"])
def test_session_ids_that_could_escape_a_directory_are_refused(session_id: str) -> None:
    with pytest.raises(ValueError, match="session_id"):
        replace(SPEC, session_id=session_id)


def test_base_path_must_be_a_slash_delimited_prefix() -> None:
    with pytest.raises(ValueError, match="base_path"):
        replace(SPEC, base_path="/connect/s1")


def test_proxy_headers_per_tool() -> None:
    assert proxy_headers(replace(SPEC, tool="jupyter")) == {"Authorization": "token sekrit"}
    assert proxy_headers(SPEC) == {"X-Studios-Secret": "sekrit"}


def test_handle_round_trips_through_an_event_payload_with_extra_keys() -> None:
    handle = Handle("s1-1", "local", "1234", "127.0.0.1", 4321, 1700000000.123456)
    assert Handle.from_dict(handle.to_dict() | {"secret": "x"}) == handle


def test_handle_carries_its_limits_line_without_it_being_part_of_its_identity() -> None:
    handle = Handle("s1-1", "local", "1234", "127.0.0.1", 4321, 1700000000.0, "limits: cgroup v1, cpu quota 1 core(s)")
    assert Handle.from_dict(handle.to_dict()).limits == handle.limits
    assert Handle.from_dict({k: v for k, v in handle.to_dict().items() if k != "limits"}) == handle  # older events
