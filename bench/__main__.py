"""``python -m bench [--only a,b] [--events N]``: run every ``bench/*.py`` module's ``main()`` in turn.

The infrastructure comes up once (``DATABASE_URL`` / ``NATS_URL`` are set for the modules), so each one reuses it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import pkgutil
import sys
import traceback

import bench
from bench.common import infrastructure

# helpers and steps of the benchmarks, not benchmarks themselves
NOT_BENCHMARKS = {"common", "system", "bare", "jupyter_concurrent", "pools"}  # pools: part of lifecycle


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                  if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS)


def run_one(name: str) -> bool:
    print(f"# bench.{name}", flush=True)
    try:
        result = importlib.import_module(f"bench.{name}").main()
        if inspect.isawaitable(result):
            asyncio.run(result)  # type: ignore[arg-type]
        return True
    except Exception:
        traceback.print_exc()
        return False


def main() -> int:
    available = discover()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(available)}")
    args, rest = parser.parse_known_args()
    chosen = [m for m in args.only.split(",") if m] or available
    if unknown := set(chosen) - set(available):
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
    sys.argv = [sys.argv[0], *rest]  # --events and friends, for the modules
    with infrastructure() as infra:
        os.environ["DATABASE_URL"], os.environ["NATS_URL"] = infra.database_url, infra.nats_url
        failed = [name for name in chosen if not run_one(name)]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
