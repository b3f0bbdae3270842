"""``python -m services.lifecycle``: run the lifecycle service until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from libs.platform.logging import configure_logging
from libs.platform.signals import run_until_signalled
from services.lifecycle.main import run
from services.lifecycle.settings import LifecycleSettings


def main() -> int:
    settings = LifecycleSettings()
    configure_logging(settings.log_level, settings.log_json, service="lifecycle")
    return run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
