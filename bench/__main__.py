"""``python -m bench [--only a,b] [--events N]``: run every ``bench/*.py`` module's ``main()`` in turn.

The infrastructure comes up once (``DATABASE_URL`` / ``NATS_URL`` are set for the modules), so each one reuses it.
Before each module the disk is settled (``settle``): what the previous one wrote is flushed first, so a module's
commits do not queue behind another module's writeback. And the Python heap the earlier modules left (the
builder's imports: ~236,000 objects) is frozen, as a service freezes its startup heap (``libs.platform.heap``):
without it the garbage collector walked those objects again and again during the event store's reads, and
``read_all`` measured 0.64 after the builder against 0.91 with them frozen.
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

import asyncpg

import bench
from bench.common import infrastructure
from libs.platform.heap import freeze_startup_heap

# helpers and steps of the benchmarks, not benchmarks themselves
NOT_BENCHMARKS = {"common", "system", "bare", "jupyter_concurrent", "pools"}  # pools: part of lifecycle


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__)
                  if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS)


async def _checkpoint(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def settle(database_url: str) -> None:
    """Flush the page cache's dirty pages and PostgreSQL's dirty buffers. The checkpoints benchmark leaves
    gigabytes of chunks to write back, and PostgreSQL a checkpoint's worth of pages; the event store's
    single-client appends, which run next and each wait for their commit's flush, should not queue behind them.
    ``CHECKPOINT`` needs a superuser (the embedded server's ``postgres`` is); a server that refuses it is only
    synced."""
    os.sync()
    try:
        asyncio.run(_checkpoint(database_url))
    except (OSError, asyncpg.PostgresError) as e:
        print(f"# (no CHECKPOINT before the next benchmark: {e})", flush=True)
    os.sync()


def run_one(name: str) -> bool:
    settle(os.environ["DATABASE_URL"])
    freeze_startup_heap()
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
