"""Calls to a Docker-API engine that ``DockerBackend`` composes: images, volumes, a container's log."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import aiodocker

from services.lifecycle.backends.base import LaunchError

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
    try:
        lines = await engine.containers.container(ident).log(stdout=True, stderr=True, tail=count)
    except aiodocker.DockerError:
        return ""
    return "".join(lines).rstrip("\n")


async def copy_log(engine: aiodocker.Docker, ident: str, path: Path) -> None:
    """The container's log (stdout and stderr), appended to ``path`` until the container ends. Read from the start
    each time and the bytes the file already holds skipped, so a restarted service leaves the file equal to the
    container's log, with nothing twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    skip = path.stat().st_size if path.exists() else 0  # noqa: ASYNC240 - one stat as the copy begins
    with path.open("ab") as out:
        try:
            async for line in engine.containers.container(ident).log(stdout=True, stderr=True, follow=True):
                data = line.encode()
                if skip:
                    cut = min(skip, len(data))
                    data, skip = data[cut:], skip - cut
                if data:
                    out.write(data)
                    out.flush()
        except aiodocker.DockerError as error:
            if error.status != 404:
                log.warning("container %s: its log stopped: %s", ident[:12], error.message)
