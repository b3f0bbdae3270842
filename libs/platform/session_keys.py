"""Per-session proxy secrets, derived from one server key kept outside the events (DESIGN §2: no secret in an event).

Lifecycle gives each run's tool ``session_secret(key, run_key)``; the gateway proxy derives the same value to get
in. Neither writes it anywhere: a restarted lifecycle still reaches the tools it adopts, and the gateway needs no
message from lifecycle to learn it. Both read the key from ``PlatformSettings.session_key_file`` (a shared data dir,
a mounted secret file in a container deployment).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """The key at ``path``; the first service to ask creates it (0600). Creation is atomic (write a private temp
    file, then hard-link it into place, which fails if the other service won the race), so gateway and lifecycle
    starting together never end up with different keys or read a half-written one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(KEY_BYTES))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = bytes.fromhex(path.read_text().strip())
    if len(key) < 16:
        raise ValueError(f"session key {path} is too short ({len(key)} bytes); delete it to make a new one")
    return key


def session_secret(key: bytes, run_key: str) -> str:
    """The secret of one run (``<session_id>-<run>``): a new one for every start, the same in every process."""
    return hmac.new(key, run_key.encode(), hashlib.sha256).hexdigest()
