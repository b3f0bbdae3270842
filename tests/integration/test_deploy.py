"""The container files: the compose file is valid where Docker Compose is installed, and what the services need
of each other (a shared data volume for the session key) is in it; the image gives /data to the service user."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _compose_cli() -> list[str] | None:
    """``docker compose`` (the plugin), else the standalone ``docker-compose``, when one answers."""
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        if subprocess.run([*cli, "version"], capture_output=True, timeout=30).returncode == 0:
            return cli
    return None


def test_docker_compose_config_passes() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither the docker CLI with the compose plugin nor docker-compose is installed here")
    env = {"PATH": os.environ.get("PATH", ""), "POSTGRES_PASSWORD": "pw", "STUDIOS_ADMIN_TOKEN": "token"}
    done = subprocess.run([*cli, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_docker_compose_refuses_to_run_without_its_secrets() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither the docker CLI with the compose plugin nor docker-compose is installed here")
    env = {"PATH": os.environ.get("PATH", "")}
    done = subprocess.run([*cli, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True,
                          env=env, timeout=60, cwd=ROOT)
    assert done.returncode != 0 and "POSTGRES_PASSWORD" in done.stderr + done.stdout


def test_gateway_and_lifecycle_share_the_data_volume() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("gateway", "lifecycle"):
        assert "studios:/data" in services[name].get("volumes", []), name


def test_dockerfile_gives_data_to_the_service_user() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "chown studios:studios /data" in text
    assert text.index("chown studios:studios /data") < text.index('VOLUME ["/data"]')
    assert "USER studios" in text
