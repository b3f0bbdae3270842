"""The container files beyond what tests/integration/test_compose.py renders: the services that share the session
key (gateway and lifecycle) see the one host data folder at the same path, and the image gives /data to the service
user (a bind or volume mounted there keeps the folder's owner) and runs as that user."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_gateway_and_lifecycle_share_the_data_folder_at_one_path() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    mounts = {name: services[name].get("volumes", []) for name in ("gateway", "lifecycle")}
    data = "${STUDIOS_DATA:-/var/lib/studios}:${STUDIOS_DATA:-/var/lib/studios}"  # same path: workspaces bind by it
    for name, volumes in mounts.items():
        assert data in volumes, name


def test_dockerfile_gives_data_to_the_service_user() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "chown studios:studios /data" in text
    assert "USER studios" in text
    assert text.index("chown studios:studios /data") < text.index("USER studios")
