"""Calls to a Docker-API engine that ``DockerBackend`` composes: images, volumes, a container's log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import aiodocker

from libs.logs.tail import stderr_path
from services.lifecycle.backends.base import LaunchError
from services.lifecycle.backends.output import append_resumed

log = logging.getLogger("studios.lifecycle.docker")


async def info(engine: aiodocker.Docker, ident: str) -> dict[str, Any] | None:
    """A container's inspect document, or None when the engine has no such container."""
    try:
        found: dict[str, Any] = await engine.containers.container(ident).show()
    except aiodocker.DockerError as error:
        if error.status == 404:
            return None
        raise
    return found


async def ensure_image(engine: aiodocker.Docker, image: str) -> None:
    try:
        await engine.images.inspect(image)
    except aiodocker.DockerError as error:
        if error.status != 404:
            raise
        try:
            await engine.images.pull(image)
        except aiodocker.DockerError as pulled:
            raise LaunchError(f"image {image} is not on the engine and cannot be pulled: {pulled.message}") \
                from pulled


async def ensure_volume(engine: aiodocker.Docker, config: dict[str, Any]) -> None:
    try:
        await engine.volumes.get(config["Name"])
    except aiodocker.DockerError as error:
        if error.status != 404:
            raise
        with contextlib.suppress(aiodocker.DockerError):  # a concurrent launch made it first
            await engine.volumes.create(config)


async def discard(engine: aiodocker.Docker, ident: str) -> None:
    with contextlib.suppress(aiodocker.DockerError):
        await engine.containers.container(ident).delete(force=True)


async def last_lines(engine: aiodocker.Docker, ident: str, count: int = 20) -> str:
    """For a failure message: the tool's last stderr lines first (why it failed), then its last stdout lines."""
    parts = []
    for stdout in (False, True):
        try:
            lines = await engine.containers.container(ident).log(stdout=stdout, stderr=not stdout, tail=count)
        except aiodocker.DockerError:
            return ""
        if text := "".join(lines).rstrip("\n"):
            parts.append(text)
    return "\n".join(parts)


async def copy_logs(engine: aiodocker.Docker, ident: str, path: Path) -> None:
    """The container's stdout into ``path`` and its stderr into ``stderr_path(path)``: the engine demuxes the
    two streams, so the logs keep them apart (libs/logs/tail.py)."""
    await asyncio.gather(copy_log(engine, ident, path, stderr=False),
                         copy_log(engine, ident, stderr_path(path), stderr=True))


async def copy_log(engine: aiodocker.Docker, ident: str, path: Path, stderr: bool | None = None) -> None:
    """The container's log (stdout and stderr; only stderr when ``stderr``, only stdout when it is False),
    appended to ``path`` until the container ends. Read from the start each time and the bytes the file already
    holds skipped, so a restarted service leaves the file equal to the container's log, with nothing twice."""
    streams = {"stdout": stderr is not True, "stderr": stderr is not False}
    container = engine.containers.container(ident)
    try:
        # A follow may end before the log does: Podman's once ended right after a short run's first line, and the
        # rest never reached the file. So the log is followed again until a follow began with the container
        # already stopped, which reads its whole log (append_resumed skips what the file holds: nothing twice).
        while True:
            running = (await container.show())["State"]["Running"]
            lines = container.log(**streams, follow=True)
            await append_resumed(path, (line.encode() async for line in lines))
            if not running:
                break
    except aiodocker.DockerError as error:
        if error.status != 404:
            log.warning("container %s: its log stopped: %s", ident[:12], error.message)
