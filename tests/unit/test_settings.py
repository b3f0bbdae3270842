from pathlib import Path

import pytest
from pydantic import ValidationError

from libs.platform.settings import PlatformSettings

ENV = ("DATABASE_URL", "NATS_URL", "STUDIOS_DATA_DIR", "STUDIOS_ADMIN_TOKEN", "STUDIOS_PORT", "STUDIOS_HOST",
       "STUDIOS_LOG_LEVEL", "STUDIOS_LOG_JSON", "STUDIOS_NATS_SYNC_INTERVAL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = PlatformSettings()
    assert (s.database_url, s.nats_url, s.admin_token) == (None, None, None)
    assert s.data_dir == Path(".studios")
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert (s.log_level, s.log_json, s.nats_sync_interval) == ("INFO", False, None)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("NATS_URL", "nats://n:4222")
    monkeypatch.setenv("STUDIOS_DATA_DIR", "/var/lib/studios")
    monkeypatch.setenv("STUDIOS_ADMIN_TOKEN", "secret")
    monkeypatch.setenv("STUDIOS_PORT", "9000")
    monkeypatch.setenv("STUDIOS_HOST", "0.0.0.0")
    monkeypatch.setenv("STUDIOS_LOG_JSON", "true")
    monkeypatch.setenv("STUDIOS_NATS_SYNC_INTERVAL", "always")
    s = PlatformSettings()
    assert s.require_urls() == ("postgresql://db/x", "nats://n:4222")
    assert s.data_dir == Path("/var/lib/studios")
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "secret"
    assert (s.host, s.port, s.log_json, s.nats_sync_interval) == ("0.0.0.0", 9000, True, "always")


def test_the_token_is_not_printed_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIOS_ADMIN_TOKEN", "secret")
    assert "secret" not in repr(PlatformSettings())


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIOS_PORT", "9000")
    assert PlatformSettings(port=9100).port == 9100


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_bad_port_is_rejected(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("STUDIOS_PORT", port)
    with pytest.raises(ValidationError):
        PlatformSettings()


def test_urls_are_required_by_services() -> None:
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        PlatformSettings().require_urls()
