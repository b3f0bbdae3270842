"""``python -m libs.platform.probe <service> <command>``: does a service answer its command subject? (exit 0/1)

For the services that serve no HTTP (checkpoints, builder, logs, and lifecycle's commands), a container probe
(deploy/kubernetes/) asks NATS (``NATS_URL``) with a body no command accepts: the service answers with its typed
"invalid input" error and does nothing, so the probe has no effect however often it runs. An answer means the
service is connected and its subscriber runs; no responder, or no answer in time, is a failure. Commands are a
queue group, so the answer may come from another replica of the service: this proves the service is served, not
that this very process is (docs in deploy/README.md).
"""

from __future__ import annotations

import asyncio
import sys

import nats
import nats.errors

from libs.contracts.subjects import command_subject
from libs.platform.settings import PlatformSettings

NOT_A_COMMAND = b"\x00probe"  # not JSON: every command server refuses it before any handler runs


async def answers(url: str, service: str, command: str, timeout: float = 3.0) -> str | None:
    """None when the service answers; else why not."""
    try:  # bounded as a whole: nats-py retries a refused first connect for minutes otherwise
        async with asyncio.timeout(timeout):
            nc = await nats.connect(url, connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=0,
                                    name="studios-probe")
    except Exception as error:
        return f"NATS at {url} does not answer: {type(error).__name__}: {error}"
    try:
        await nc.request(command_subject(service, command), NOT_A_COMMAND, timeout=timeout)
    except nats.errors.NoRespondersError:
        return f"no {service} service answers {command}"
    except nats.errors.TimeoutError:
        return f"{service} did not answer {command} within {timeout:.0f}s"
    finally:
        await nc.close()
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m libs.platform.probe <service> <command>", file=sys.stderr)
        return 2
    url = PlatformSettings().nats_url or "nats://127.0.0.1:4222"
    why = asyncio.run(answers(url, argv[0], argv[1]))
    if why is not None:
        print(why, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
