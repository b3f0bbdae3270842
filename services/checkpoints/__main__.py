"""``python -m services.checkpoints``: run the checkpoints service until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from libs.platform.logging import configure_logging
from libs.platform.signals import run_until_signalled
from services.checkpoints.main import run
from services.checkpoints.settings import CheckpointsSettings


def main() -> int:
    settings = CheckpointsSettings()
    configure_logging(settings.log_level, settings.log_json, service="checkpoints")
    return run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
