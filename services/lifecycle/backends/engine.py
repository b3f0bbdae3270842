"""Calls to a Docker-API engine that ``DockerBackend`` composes: images, volumes, a container's log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer

from libs.logs.tail import stderr_path
from services.lifecycle.backends.base import LaunchError
from services.lifecycle.backends.output import FollowAgain, append_resumed, held

log = logging.getLogger("studios.lifecycle.docker")


def connect(url: str | None) -> aiodocker.Docker:
    """A client of the engine with no cap on its open connections. A running session keeps four open for as long
    as it runs (two log follows, the copy's wait and lifecycle's watcher's): under aiohttp's default cap of 100
    every engine call stalled from the 34th session on with three each (measured with Podman, no watcher), which
    is the 26th with the watcher. aiodocker picks the transport (a socket, TCP, TLS from the environment)
    and takes no cap for it, so the cap of the connector it made is lifted here."""
    engine = aiodocker.Docker(url=url)
    engine.connector._limit = 0  # aiohttp's BaseConnector: 0 is no limit, what its constructor's limit=0 sets
    return engine


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


#: a log follow that hears nothing for this long after its container ended missed the end (Podman's can: it waits
#: for a "died" event that came before it looked), so it is cut; the read that follows gets the rest
FOLLOW_AFTER_END = 5.0
#: a wait for a container's end is cut after this long and the container's state read (``until_ended``)
WAIT_POLL = 10.0
#: the engine did not answer (aiodocker's status for a connection error): worth asking again
_UNREACHABLE = 900


async def copy_logs(engine: aiodocker.Docker, ident: str, path: Path) -> None:
    """The container's stdout into ``path`` and its stderr into ``stderr_path(path)``: the engine demuxes the
    two streams, so the logs keep them apart (libs/logs/tail.py). One wait on the container tells both copies
    when it ended."""
    ended = asyncio.Event()
    watcher = asyncio.ensure_future(_watch_end(engine.containers.container(ident), ended))
    try:
        await asyncio.gather(copy_log(engine, ident, path, ended, stderr=False),
                             copy_log(engine, ident, stderr_path(path), ended, stderr=True))
    finally:
        watcher.cancel()


async def copy_log(engine: aiodocker.Docker, ident: str, path: Path, ended: asyncio.Event,
                   stderr: bool | None = None) -> None:
    """The container's log (stdout and stderr; only stderr when ``stderr``, only stdout when it is False),
    appended to ``path`` until the container ends and the file holds its whole log. Each follow reads the log from
    its start and skips the bytes the file already holds, so following again never writes anything twice.

    A follow's end proves nothing: Podman's once ended right after a short run's first line, aiodocker ends one
    quietly when the connection drops, and a follow of a running container may never end. So the log is followed
    until a read begun after the container stopped adds nothing to the file; a follow quiet for
    ``FOLLOW_AFTER_END`` after the end is cut, and a broken one is followed again."""
    streams = {"stdout": stderr is not True, "stderr": stderr is not False}
    container = engine.containers.container(ident)
    again = FollowAgain(log, f"container {ident[:12]}")
    found_nothing = 0  # whole reads of the ended container's log in a row that added nothing
    while True:
        try:
            running = (await container.show())["State"]["Running"]
            before = held(path)
            await _follow(container, streams, path, ended)
            if not running:
                if held(path) != before:
                    found_nothing = 0
                    continue  # that read added bytes, so the one before may have been cut short: read once more
                found_nothing += 1
                if found_nothing == 2:
                    return  # twice, a pause apart (the engine's log of a just-ended container may lag): all there
        except aiodocker.DockerError as error:
            if error.status == 404:
                return  # the container is gone, and its log with it
            if error.status != _UNREACHABLE:
                log.warning("container %s: its log stopped: %s", ident[:12], error.message)
                return
            again.broke(error.message)
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as error:
            again.broke(repr(error))
        await again.wait()  # the follow ended (or broke) while the container ran: follow again, not at once


async def _follow(container: DockerContainer, streams: dict[str, bool], path: Path, ended: asyncio.Event) -> None:
    """One follow of the log into ``path``, until the engine ends it or, after ``ended``, it is quiet for
    ``FOLLOW_AFTER_END``."""
    loop = asyncio.get_running_loop()
    heard = loop.time()

    async def lines() -> AsyncIterator[bytes]:
        nonlocal heard
        # aiodocker's follow is an async generator: closed here, so a cut follow lets go of its connection now
        stream = cast(AsyncGenerator[str, None], container.log(**streams, follow=True))
        async with contextlib.aclosing(stream):
            async for line in stream:
                heard = loop.time()
                yield line.encode()

    copy = asyncio.ensure_future(append_resumed(path, lines()))
    end = asyncio.ensure_future(ended.wait())
    try:
        await asyncio.wait({copy, end}, return_when=asyncio.FIRST_COMPLETED)
        heard = max(heard, loop.time())  # the quiet that counts begins at the end, not at the last line
        while not copy.done():
            quiet = loop.time() - heard
            if quiet >= FOLLOW_AFTER_END:
                copy.cancel()
                break
            await asyncio.wait({copy}, timeout=FOLLOW_AFTER_END - quiet)
    finally:
        end.cancel()
        copy.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await copy  # its error, if it broke; nothing when it ended or was cut


async def _watch_end(container: DockerContainer, ended: asyncio.Event) -> None:
    """Sets ``ended`` when the container is no longer running (or no longer there)."""
    await until_ended(container)
    ended.set()


async def until_ended(container: DockerContainer) -> None:
    """Once the container is no longer running, or no longer there. A wait lasts the container's whole life, so
    one the engine did not answer, or whose connection dropped (an engine restarted under a running session), is
    asked again after a pause; any other refusal ends it here, and the caller inspects the container. Each wait is
    cut after ``WAIT_POLL`` and the container's state looked at: an engine's wait, like its log follow, can miss
    the end it waits for (Podman's waits for an event), and nothing would end it then."""
    again = FollowAgain(log, f"container {container.id[:12]}")
    while True:
        try:
            await container.wait(timeout=WAIT_POLL)
            return
        except aiodocker.DockerError as error:
            if error.status != _UNREACHABLE:
                return
        except TimeoutError:
            if not await _running(container):
                return
            continue  # a long run: wait again at once
        except aiohttp.ClientError:
            pass
        await again.wait()


async def _running(container: DockerContainer) -> bool:
    try:
        return bool((await container.show())["State"]["Running"])
    except aiodocker.DockerError as error:
        return error.status == _UNREACHABLE  # gone (404) is not running; an engine away may still run it
    except (TimeoutError, aiohttp.ClientError):
        return True  # not known: wait again
