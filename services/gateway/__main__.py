"""``python -m services.gateway``: serve the gateway with uvicorn until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

import uvicorn

from libs.platform.heap import freeze_startup_heap
from libs.platform.logging import configure_logging
from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings


def main() -> int:
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_json, service="gateway")
    app = create_app(settings)
    freeze_startup_heap()  # the imports and the app: see libs.platform.heap
    # uvicorn handles SIGTERM/SIGINT itself: it stops accepting, drains, then runs the lifespan's shutdown.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                proxy_headers=True, ws="websockets-sansio", timeout_graceful_shutdown=10,
                timeout_keep_alive=settings.keep_alive_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
