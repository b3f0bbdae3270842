"""``DockerImages``: a build is a container image made by a Docker-API engine (Docker, or Podman's service).

The engine builds the generated Dockerfile (``dockerfile.py``) from a context of two files, and tags the image
``<repository>:<build id>``. The tag is the content hash, so a build finds an image already tagged for its key
(built by an earlier attempt, another builder, or before the event store was rebuilt) and records it without
building again; ``exists`` asks the engine for the tag, so an image removed from the engine is built again on the
next request. The engine's build output goes line by line to the build's output, as the installer's lines do for
venvs. The artifact is ``{uri: docker-image:<tag>, sha256: the image id, size}``: no credential is in it.
"""

from __future__ import annotations

import io
from collections import deque
from typing import Any

import aiodocker

from libs.contracts.build import IMAGE_URI, Artifact, BuildSpec, image_reference
from services.builder.environments.base import BuildError, OutputSink
from services.builder.images import dockerfile

_TAIL = 12  # lines of a failing build's output in the failure message


class DockerImages:
    kind = "image"

    def __init__(self, url: str | None, *, repository: str = "studios-env", index_url: str | None = None) -> None:
        self.url, self.repository, self.index_url = url, repository, index_url
        self._engine: aiodocker.Docker | None = None  # made on first use: it needs a running loop

    @property
    def engine(self) -> aiodocker.Docker:
        if self._engine is None:
            self._engine = aiodocker.Docker(url=self.url)
        return self._engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.close()

    async def exists(self, artifact: Artifact) -> bool:
        reference = image_reference(artifact)
        return reference is not None and await self._inspect(reference) is not None

    async def build(self, build_id: str, spec: BuildSpec, out: OutputSink) -> Artifact:
        if spec.base_image is None:
            raise BuildError("an image build needs a base image")
        tag = dockerfile.image_tag(self.repository, build_id)
        found = await self._inspect(tag)
        if found is not None:
            out.line(f"image {tag} is on the engine already ({found['Id']}): not built again")
            return _artifact(tag, found)
        await self._ensure_base(spec.base_image, out)
        text = dockerfile.dockerfile(spec, spec.base_image, build_id, index_url=self.index_url)
        out.line(f"$ docker build --tag {tag} (Dockerfile below)")
        for line in text.splitlines():
            out.line(f"  {line}")
        tail = await self._stream(tag, dockerfile.context(text, dockerfile.requirements_text(spec)), out)
        info = await self._inspect(tag)
        if info is None:
            raise BuildError("\n".join(tail) or f"the engine built no image {tag}")
        return _artifact(tag, info)

    async def _stream(self, tag: str, context: bytes, out: OutputSink) -> list[str]:
        tail: deque[str] = deque(maxlen=_TAIL)
        try:
            stream = self.engine.images.build(fileobj=io.BytesIO(context), encoding="gzip", tag=tag, stream=True,
                                              rm=True, forcerm=True)
            async for chunk in stream:
                for text, name in dockerfile.output_lines(chunk):
                    out.line(text, name)
                    tail.append(text)
        except aiodocker.DockerError as error:
            message = "\n".join([*tail, str(error.message)][-_TAIL:])
            raise BuildError(message) from error
        return list(tail)

    async def _ensure_base(self, base: str, out: OutputSink) -> None:
        if await self._inspect(base) is not None:
            return
        out.line(f"$ docker pull {base}")
        try:
            async for chunk in self.engine.images.pull(base, stream=True):
                for text, name in dockerfile.output_lines(chunk):
                    out.line(text, name)
        except aiodocker.DockerError as error:
            raise BuildError(f"base image {base} is not on the engine and cannot be pulled: {error.message}") \
                from error

    async def _inspect(self, image: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = await self.engine.images.inspect(image)
        except aiodocker.DockerError as error:
            if error.status == 404:
                return None
            raise
        return info


def _artifact(tag: str, info: dict[str, Any]) -> Artifact:
    return Artifact(uri=f"{IMAGE_URI}{tag}", sha256=str(info["Id"]).removeprefix("sha256:"),
                    size=int(info.get("Size") or 0))


