"""``python -m services.logs``: run the logs service until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from libs.platform.logging import configure_logging
from libs.platform.signals import run_until_signalled
from services.logs.main import run
from services.logs.settings import LogsSettings


def main() -> int:
    settings = LogsSettings()
    configure_logging(settings.log_level, settings.log_json, service="logs")
    return run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
