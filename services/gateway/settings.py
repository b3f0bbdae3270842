"""Settings of the gateway."""

from __future__ import annotations

from pydantic import Field

from libs.platform.settings import PlatformSettings


class GatewaySettings(PlatformSettings):
    #: The gateway's base URL as browsers see it (behind a reverse proxy); default: each request's own.
    public_url: str | None = Field(None, alias="STUDIOS_PUBLIC_URL")
    #: Allow ``custom`` tools (any command) on the bootstrap ``local`` compute environment.
    allow_custom_commands: bool = Field(True, alias="STUDIOS_ALLOW_CUSTOM_COMMANDS")

    def admin_token_value(self) -> str:
        token = self.existing_admin_token()
        if token is None:
            raise RuntimeError("no admin token: set STUDIOS_ADMIN_TOKEN or run `studios up`, which writes one")
        return token
