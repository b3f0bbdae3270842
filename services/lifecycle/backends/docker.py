"""DockerBackend: each session is one container on a Docker-API engine (Docker, or Podman's compatible service).

- The container runs the template's image (``LaunchSpec.image``, the template's ``repository``), is named
  ``studios-<session>`` (a retried launch finds it instead of starting a second one) and labelled
  ``studios.studio``/``studios.session``/``studios.owner``/``studios.scope``; ``list_sessions`` finds live sessions
  by those labels, so a restarted lifecycle adopts them. ``scope`` keeps two installations on one engine apart.
- It runs as the image's own user, else as ``user`` (``1000:1000`` by default, never root unless configured so),
  its ``HOME`` the workspace, which is made that user's: ``users.py``.
- Limits are the engine's: ``NanoCpus`` and ``Memory``; GPUs as device requests; ``spot`` is ignored with a warning.
- The workspace is a named volume bound to the session's workspace folder; data links are read-only bind mounts;
  the tool's port is published on 127.0.0.1 only (the gateway proxy is on this host). Shape: ``containers.py``.
- Output: the engine's log of the container is copied into ``log_path(session)``, the file the lifecycle's
  session-log follower sends to the logs service, exactly as it does for local sessions. Usage: the engine's stats.
- ``stop``: the engine's stop (SIGTERM, SIGKILL after the grace period), then the container is removed; the volume
  stays with the studio until it is deleted (``forget_workspace``, from lifecycle's reclaim of a deleted studio).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import httpx

from services.lifecycle.backends import containers as shape
from services.lifecycle.backends import engine as ops
from services.lifecycle.backends import users
from services.lifecycle.backends.base import Handle, LaunchError, LaunchSpec, SessionState, Status, Usage
from services.lifecycle.backends.output import Copy, EngineLogs
from services.lifecycle.backends.usage import Meter

log = logging.getLogger("studios.lifecycle.docker")
_POLL = 0.1
SAMPLE_EVERY = 1.0


class DockerBackend:
    name = "docker"

    def __init__(self, state_dir: Path, url: str | None = None, *, grace: float = 30.0, scope: str = "studios",
                 default_image: str | None = None, network: str | None = None,
                 user: str = users.DEFAULT_USER) -> None:
        self.state_dir, self.url, self.grace, self.scope = state_dir, url, grace, scope
        #: who a session runs as where its image names no user (``users.py``); "" for the image's default, root
        self.user = user
        self.default_image, self.network = default_image, network
        self._engine: aiodocker.Docker | None = None  # made on first use: it needs a running loop
        self._meters: dict[str, Meter] = {}
        self._final: dict[str, Usage] = {}
        self.logs = EngineLogs(state_dir / "logs")

    @property
    def engine(self) -> aiodocker.Docker:
        if self._engine is None:
            self._engine = ops.connect(self.url)
        return self._engine

    async def close(self) -> None:
        self.logs.close()
        if self._engine is not None:
            await self._engine.close()

    def log_path(self, session_id: str) -> Path:
        return self.logs.path(session_id)

    # -- the port ---------------------------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> Handle:
        image = spec.image or self.default_image
        if image is None:
            raise LaunchError(f"session {spec.session_id}: the template names no image for the docker backend")
        config = shape.container_config(spec, image, self.scope, self.network)  # ValueError for a bad tool
        if spec.spot:
            log.warning("session %s: %s", spec.session_id, shape.SPOT_WARNING)
        existing = await self._info(shape.container_name(spec.session_id))
        if existing is not None and shape.status_of(existing, "").running:
            return self._adopt(existing)  # a retried launch must not start a second copy
        try:
            if existing is not None:  # an ended earlier attempt of this run: its name is in the way
                with contextlib.suppress(aiodocker.DockerError):  # a concurrent launch may have removed it first
                    await self.engine.containers.container(existing["Id"]).delete(force=True)
            await ops.ensure_image(self.engine, image)
            image_user = ((await self.engine.images.inspect(image)).get("Config") or {}).get("User") or None
            user = users.container_user(self.user, image_user)
            config = users.apply(config, user, shape.WORKSPACE)
            spec.workspace_dir.mkdir(parents=True, exist_ok=True)
            await ops.ensure_volume(self.engine, shape.volume_config(spec))
            container = await self.engine.containers.create(config, name=shape.container_name(spec.session_id))
            owner = users.ids(user or image_user)
            await asyncio.to_thread(users.own, spec.workspace_dir, owner)  # a restored checkpoint's files
            await container.start()
            # again: on a volume's first use the engine copies the image's folder there (root's) over it
            await asyncio.to_thread(users.own, spec.workspace_dir, owner)
            info = await container.show()
        except aiodocker.DockerError as error:
            # A name already taken is Docker's 409, and Podman's 500 "… is already in use"
            name_taken = error.status == 409 or "already in use" in str(error.message)
            if name_taken and (raced := await self._info(shape.container_name(spec.session_id))):
                return self._adopt(raced)  # a concurrent launch of this run made it first: that one is the session
            await ops.discard(self.engine, shape.container_name(spec.session_id))
            raise LaunchError(f"cannot start session {spec.session_id} on the Docker engine: {error.message}") \
                from error
        return self._adopt(info, shape.describe(spec))

    async def ready(self, handle: Handle, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(trust_env=False) as client:  # no proxy between us and 127.0.0.1
            while (await self.inspect(handle)).running:
                await self._sample(handle)  # a start is a run's busiest time
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(handle.url + "/", timeout=2.0)).status_code < 500:
                        return True
                if loop.time() >= deadline:
                    return False
                await asyncio.sleep(_POLL)
        return False

    async def inspect(self, handle: Handle) -> Status:
        info = await self._info(handle.ident)
        if info is None:
            return Status(SessionState.MISSING)
        status = shape.status_of(info, "")
        return status if status.running else shape.status_of(info, await ops.last_lines(self.engine, handle.ident))

    async def wait(self, handle: Handle) -> Status:
        if await self._info(handle.ident) is None:
            return Status(SessionState.MISSING)
        sampler = asyncio.ensure_future(self._sample_every(handle))
        try:
            await ops.until_ended(self.engine.containers.container(handle.ident))
        finally:
            sampler.cancel()
        return await self.inspect(handle)

    async def usage(self, handle: Handle) -> Usage | None:
        if handle.session_id in self._final:
            return self._final.pop(handle.session_id)
        if await self._info(handle.ident) is None:
            return None
        return (await self._sample(handle)).usage()

    async def stop(self, handle: Handle, grace: float | None = None) -> int | None:
        info = await self._info(handle.ident)
        if info is None:
            return None
        container = self.engine.containers.container(handle.ident)
        meter = await self._sample(handle)
        with contextlib.suppress(aiodocker.DockerError):  # it may end by itself meanwhile
            await container.stop(t=shape.grace_seconds(self.grace if grace is None else grace))
            await container.wait()
        info = await self._info(handle.ident) or info
        await self.logs.finish(handle.session_id)
        self._final[handle.session_id] = meter.usage()
        self._meters.pop(handle.session_id, None)
        await ops.discard(self.engine, handle.ident)
        return shape.exit_code(info["State"].get("ExitCode"))

    async def list_sessions(self) -> list[Handle]:
        labels = {"label": [f"{shape.LABEL_SCOPE}={self.scope}"], "status": ["running"]}
        found = await self.engine.containers.list(filters=json.dumps(labels))
        handles = []
        for container in found:
            info = await self._info(container.id)
            if info is not None and shape.status_of(info, "").running:
                handles.append(self._adopt(info))
        return handles

    async def forget_workspace(self, studio_id: str, workspace_dir: Path) -> bool:
        """A deleted studio's workspace volume, removed (its data is the folder, which the caller removes next).
        False while the volume is still in use (a container of the studio left behind): the folder must stay too,
        and the next pass asks again."""
        name = shape.workspace_volume(studio_id, workspace_dir)
        try:
            await (await self.engine.volumes.get(name)).delete()
        except aiodocker.DockerError as error:
            if error.status == 404:
                return True
            if error.status != 409:
                raise
            log.warning("studio %s was deleted, but its volume %s is still in use: %s", studio_id, name,
                        error.message)
            return False
        return True

    async def output(self, handle: Handle) -> AsyncIterator[bytes]:
        async def present() -> bool:
            return await self._info(handle.ident) is not None

        async for chunk in self.logs.follow(handle.session_id, self._copy(handle), present):
            yield chunk

    # -- helpers ----------------------------------------------------------------------------------------------

    def _adopt(self, info: dict[str, Any], limits: str = "") -> Handle:
        handle = shape.handle_of(info, self.name, limits)
        if self.network:  # the gateway reaches the tool on that network (compose), not on this host's loopback
            networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
            if address := (networks.get(self.network) or {}).get("IPAddress"):
                handle = dataclasses.replace(handle, host=address, port=shape.TOOL_PORT)
        self._meters.setdefault(handle.session_id, Meter(started_at=handle.started_at))
        self.logs.ensure(handle.session_id, self._copy(handle))
        return handle

    def _copy(self, handle: Handle) -> Copy:
        return functools.partial(ops.copy_logs, self.engine, handle.ident)

    async def _info(self, ident: str) -> dict[str, Any] | None:
        return await ops.info(self.engine, ident)

    async def _sample(self, handle: Handle) -> Meter:
        meter = self._meters.setdefault(handle.session_id, Meter(started_at=handle.started_at))
        with contextlib.suppress(aiodocker.DockerError, KeyError, IndexError, TypeError):
            # one reading; an ended container has none (its usage is what the last sample saw)
            stats = (await self.engine.containers.container(handle.ident).stats(stream=False))[0]
            memory = stats.get("memory_stats") or {}
            cpu_ns = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
            meter.add(time.time(), cpu_ns / 1e9 if cpu_ns is not None else None, memory.get("usage"),
                      memory.get("max_usage"))
        return meter

    async def _sample_every(self, handle: Handle) -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            await self._sample(handle)
