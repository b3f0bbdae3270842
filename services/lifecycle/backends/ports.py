"""Free TCP ports on 127.0.0.1 for local tools (never the same one to two tools at once), and waiting for a tool's
port to answer."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import httpx

from services.lifecycle.backends.base import LaunchError

_POLL = 0.05
#: For a tool's first seconds the probe asks more often: a warm-pool start answers within a few hundred ms, and a
#: 50 ms step added 25 ms to its median on average; a refused connection costs the probe next to nothing.
_FAST_POLL, _FAST_FOR = 0.01, 2.0

# Ports handed out recently, with when: the kernel may offer a port again as soon as the probe socket closes,
# before the first tool has bound it, and two tools on one port is worse than a failed start: the loser's
# readiness probe is answered by the winner, and the session looks running with a dead process.
_ISSUED: dict[int, float] = {}
_ISSUED_FOR = 120.0  # seconds; far longer than any tool takes to bind its port


def free_port() -> int:
    now = time.monotonic()
    for port, at in list(_ISSUED.items()):
        if now - at > _ISSUED_FOR:
            del _ISSUED[port]
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _ISSUED:
            _ISSUED[port] = now
            return port
    raise LaunchError("no free port on 127.0.0.1")


def listening(port: int) -> bool:
    """Whether anything on this machine accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def wait_until_answers(url: str, alive: Callable[[], bool], within: float) -> bool:
    """True once ``url`` answers with any status below 500; False after ``within`` s or once ``alive()`` is False."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    deadline = began + within
    # trust_env=False: a proxy from the environment must never sit between us and 127.0.0.1.
    async with httpx.AsyncClient(trust_env=False) as client:
        while alive():
            remaining = deadline - loop.time()
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url, timeout=max(0.1, min(2.0, remaining)))).status_code < 500:
                    return True
            if remaining <= 0:
                return False
            await asyncio.sleep(_FAST_POLL if loop.time() - began < _FAST_FOR else _POLL)
    return False
