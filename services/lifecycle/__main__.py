"""``python -m services.lifecycle``: run the lifecycle service until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

from libs.platform.signals import hold_signals, run_until_signalled

hold_signals()  # before the slow imports: a system shutdown then must still stop the sessions, not kill lifecycle

from libs.platform.logging import configure_logging  # noqa: E402
from services.lifecycle.main import run  # noqa: E402
from services.lifecycle.settings import LifecycleSettings  # noqa: E402


def main() -> int:
    settings = LifecycleSettings()
    configure_logging(settings.log_level, settings.log_json, service="lifecycle")
    return run_until_signalled(lambda stop: run(settings, stop))


if __name__ == "__main__":
    sys.exit(main())
