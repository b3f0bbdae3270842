"""The Docker objects a LaunchSpec becomes (services/lifecycle/backends/containers.py): pure, no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.lifecycle.backends import LaunchSpec, SessionState
from services.lifecycle.backends import containers as shape


def spec(**extra: object) -> LaunchSpec:
    values: dict[str, object] = dict(session_id="st1-2", studio_id="st1", tool="custom", command=["serve"],
                                     workspace_dir=Path("/srv/ws/st1"), base_path="/connect/st1/", secret="s",
                                     labels={"user": "7"})
    return LaunchSpec(**(values | extra))  # type: ignore[arg-type]


def test_limits_labels_mounts_and_a_loopback_port() -> None:
    config = shape.container_config(spec(cpu=2, memory_mib=512, gpu=1,
                                         read_only_mounts=(("/data/x", "/srv/ws/st1/data/x"),)), "img", "prod")
    host = config["HostConfig"]
    assert (host["NanoCpus"], host["Memory"]) == (2_000_000_000, 512 * 2**20)
    assert host["DeviceRequests"][0]["Count"] == 1
    assert host["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["Binds"][1] == "/data/x:/workspace/data/x:ro"
    assert host["Binds"][0].endswith(":/workspace") and host["Binds"][0].startswith("studios-ws-st1-")
    assert config["Labels"] == {"studios.studio": "st1", "studios.session": "st1-2", "studios.owner": "7",
                                "studios.scope": "prod"}
    assert "CONNECT_TOOL_PORT=8080" in config["Env"] and config["Cmd"] == ["serve"]


def test_no_limits_means_none_sent_and_an_image_tool_runs_the_images_command() -> None:
    config = shape.container_config(spec(tool="vscode", command=None), "img", "prod")
    assert not {"NanoCpus", "Memory", "DeviceRequests"} & set(config["HostConfig"])
    assert "Cmd" not in config


def test_unknown_tool_and_custom_without_command_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown tool"):
        shape.container_config(spec(tool="nope"), "img", "prod")
    with pytest.raises(ValueError, match="non-empty command"):
        shape.container_config(spec(command=None), "img", "prod")


def test_volume_is_named_for_the_studio_and_its_folder() -> None:
    volume = shape.volume_config(spec())
    assert volume["DriverOpts"] == {"type": "none", "o": "bind", "device": "/srv/ws/st1"}
    assert shape.volume_name(spec()) == shape.volume_name(spec(session_id="st1-3"))  # every run shares it
    assert shape.volume_name(spec()) != shape.volume_name(spec(workspace_dir=Path("/other/st1")))


def test_signal_exit_codes_read_as_negative_signals() -> None:
    assert [shape.exit_code(c) for c in (0, 7, 137, 143, None)] == [0, 7, -9, -15, None]


def test_engine_timestamps_with_nanoseconds_and_offsets() -> None:
    assert shape.started_at("2026-12-01T00:00:01.123456789Z") == pytest.approx(1796083201.123456)
    assert shape.started_at("2026-12-01T01:00:01.5+01:00") == pytest.approx(1796083201.5)


def test_status_of_running_exited_and_oom_killed() -> None:
    assert shape.status_of({"State": {"Running": True}}, "").state is SessionState.RUNNING
    exited = shape.status_of({"State": {"Running": False, "Status": "exited", "ExitCode": 3}}, "last")
    assert (exited.state, exited.exit_code, exited.message) == (SessionState.EXITED, 3, "last")
    oom = shape.status_of({"State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True}}, "")
    assert (oom.exit_code, oom.message) == (-9, "out of memory")


def test_spot_is_described_as_ignored() -> None:
    assert shape.describe(spec(spot=True, cpu=1)) == f"container limits: 1 cpu; {shape.SPOT_WARNING}"
