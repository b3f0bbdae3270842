"""Settings of the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from libs.platform.settings import PlatformSettings
from services.gateway.proxy.hosts import ConnectMode, StudioOrigins


class GatewaySettings(PlatformSettings):
    #: The gateway's base URL as browsers see it (behind a reverse proxy); default: each request's own.
    public_url: str | None = Field(None, alias="STUDIOS_PUBLIC_URL")
    #: Allow ``custom`` tools (any command) on the bootstrap ``local`` compute environment.
    allow_custom_commands: bool = Field(True, alias="STUDIOS_ALLOW_CUSTOM_COMMANDS")
    #: The platform of the compute environment made at first start: ``local-platform`` (id ``local``) or
    #: ``docker-platform`` (id ``docker``; compose: lifecycle then needs STUDIOS_DOCKER_HOST) or ``k8s-platform``
    #: (id ``kubernetes``; deploy/kubernetes: lifecycle then needs STUDIOS_KUBE_NAMESPACE).
    default_platform: Literal["local-platform", "docker-platform", "k8s-platform"] = Field(
        "local-platform", alias="STUDIOS_DEFAULT_PLATFORM")
    #: ``subdomain``: each studio on its own origin ``<sessionId>.<domain>`` (isolated); ``path``: every studio
    #: under ``/connect/<sessionId>/`` on the gateway's origin (no isolation between studios). docs/operations.md.
    connect_mode: ConnectMode = Field("subdomain", alias="STUDIOS_CONNECT_MODE")
    #: The wildcard domain of subdomain mode; unset: ``localhost:<STUDIOS_PORT>`` (browsers resolve *.localhost).
    connect_domain: str | None = Field(None, alias="STUDIOS_CONNECT_DOMAIN")
    #: How long a connect ticket (main origin -> studio origin) may wait to be exchanged, and a studio session lasts.
    connect_ticket_seconds: float = Field(60.0, alias="STUDIOS_CONNECT_TICKET_SECONDS", gt=0)
    connect_session_hours: float = Field(12.0, alias="STUDIOS_CONNECT_SESSION_HOURS", gt=0)
    #: How long a proxied connection counts without being renewed (renewed every third of it, at most every 30 s;
    #: a dead gateway's connections end after it): docs/activity.md.
    connection_lease_seconds: float = Field(90.0, alias="STUDIOS_CONNECTION_LEASE_SECONDS", ge=2)
    #: A log follow (SSE) that has nothing to send says ``: keepalive`` this often, so proxies keep it open.
    logs_keepalive_seconds: float = Field(15.0, alias="STUDIOS_LOGS_KEEPALIVE_SECONDS", gt=0)
    #: How long an idle client connection is kept open. Longer than clients keep theirs (httpx 5 s, browsers
    #: 60-300 s, the vendors' clients on requests), so the server is not the side that closes an idle one: when
    #: both sides used 5 s (uvicorn's default and httpx's), a request sent as the server closed its connection
    #: got a bare connection reset, and a stop of 50 at once sometimes never reached the gateway.
    keep_alive_seconds: int = Field(75, alias="STUDIOS_KEEP_ALIVE_SECONDS", gt=0)
    #: Webhook receivers on loopback, private and link-local addresses (SSRF guard off): tests, a trusted network.
    webhooks_allow_private: bool = Field(False, alias="STUDIOS_WEBHOOKS_ALLOW_PRIVATE")

    def studio_origins(self) -> StudioOrigins:
        return StudioOrigins(self.connect_mode, (self.connect_domain or f"localhost:{self.port}").strip().lower())

    def admin_token_value(self) -> str:
        token = self.existing_admin_token()
        if token is None:
            raise RuntimeError("no admin token: set STUDIOS_ADMIN_TOKEN or run `studios up`, which writes one")
        return token
