"""The settings every process shares. Services subclass ``PlatformSettings``; nothing else reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(None, alias="DATABASE_URL")
    nats_url: str | None = Field(None, alias="NATS_URL")
    data_dir: Path = Field(Path(".studios"), alias="STUDIOS_DATA_DIR")
    admin_token: SecretStr | None = Field(None, alias="STUDIOS_ADMIN_TOKEN")
    port: int = Field(8080, alias="STUDIOS_PORT", ge=0, le=65535)
    host: str = Field("127.0.0.1", alias="STUDIOS_HOST")
    log_level: str = Field("INFO", alias="STUDIOS_LOG_LEVEL")
    log_json: bool = Field(False, alias="STUDIOS_LOG_JSON")
    #: JetStream flushes to disk every 2 minutes by default; operators may want it tighter.
    nats_sync_interval: str | None = Field(None, alias="STUDIOS_NATS_SYNC_INTERVAL")
    #: Set on every connection the event store opens (startup parameters), so they hold on any server
    #: ``DATABASE_URL`` names: a transaction left open holds the commit horizon back for every reader, and a
    #: statement this long is a bug or a lock pile-up. A setting in the DSN's query string wins over these.
    db_idle_in_transaction_timeout: str = Field("60s", alias="STUDIOS_DB_IDLE_IN_TRANSACTION_TIMEOUT")
    db_statement_timeout: str = Field("60s", alias="STUDIOS_DB_STATEMENT_TIMEOUT")

    @property
    def database_settings(self) -> dict[str, str]:
        """``server_settings`` for ``EventStore.connect``."""
        return {"idle_in_transaction_session_timeout": self.db_idle_in_transaction_timeout,
                "statement_timeout": self.db_statement_timeout}
    #: The key per-session proxy secrets derive from (``libs.platform.session_keys``); gateway and lifecycle must
    #: read the same file. Default: ``<data dir>/lifecycle/session-key``, created on first use.
    session_key_path: Path | None = Field(None, alias="STUDIOS_SESSION_KEY_FILE")

    @property
    def session_key_file(self) -> Path:
        return self.session_key_path or self.data_dir.resolve() / "lifecycle" / "session-key"

    #: Object-store credentials data links name by id (``libs.datalinks.credentials``; docs/data-links.md); the
    #: gateway (browsing) and lifecycle (copying into sessions) read the same file. Absent: no credentials.
    credentials_path: Path | None = Field(None, alias="STUDIOS_CREDENTIALS_FILE")

    @property
    def credentials_file(self) -> Path:
        return self.credentials_path or self.data_dir.resolve() / "credentials.json"

    #: which replica of its service this process is (``<service>-<n>``, set by ``studios up``; docs/operations.md,
    #: "Replicas"); None when run on its own
    instance: str | None = Field(None, alias="STUDIOS_INSTANCE")

    def private_path(self, path: Path) -> Path:
        """``path`` for a file only this process may write (a log spool): replicas share the data dir, and two
        processes appending to and truncating one spool lose each other's lines. Replica 1 (or a process run on
        its own) keeps the plain name, so a single-process install finds what it spooled before; the others get
        ``<name>-<instance>``, the same across the supervisor's restarts of them, so a killed replica's spool is
        sent by its next run."""
        if not self.instance or self.instance.endswith("-1"):
            return path
        return path.with_name(f"{path.name}-{self.instance}")

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    def existing_admin_token(self) -> str | None:
        """``STUDIOS_ADMIN_TOKEN``, else the token ``studios up`` wrote under the data dir, else None."""
        if self.admin_token is not None and self.admin_token.get_secret_value():
            return self.admin_token.get_secret_value()
        if self.admin_token_file.exists():
            return self.admin_token_file.read_text().strip()
        return None

    def require_urls(self) -> tuple[str, str]:
        if not self.database_url or not self.nats_url:
            raise RuntimeError("DATABASE_URL and NATS_URL must be set (studios up sets them for its services)")
        return self.database_url, self.nats_url
