"""``python -m services.builder``: run the builder service until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from libs.platform.logging import configure_logging
from libs.platform.signals import run_until_signalled
from services.builder.main import run
from services.builder.settings import BuilderSettings


def main() -> int:
    settings = BuilderSettings()
    configure_logging(settings.log_level, settings.log_json, service="builder")
    return run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
