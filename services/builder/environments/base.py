"""The port: what the builder needs from anything that turns a ``BuildSpec`` into an artifact."""

from __future__ import annotations

from typing import Protocol

from libs.contracts.build import Artifact, BuildSpec


class OutputSink(Protocol):
    """Where a build's output goes, one line at a time, as it happens."""

    def line(self, text: str, stream: str = "stdout") -> None: ...


class BuildError(Exception):
    """The build failed; the message is what a user needs (the installer's own error)."""


class EnvironmentBuilder(Protocol):
    """Builds environments; ``exists`` tells whether a recorded artifact is still there to be reused."""

    kind: str

    async def build(self, build_id: str, spec: BuildSpec, out: OutputSink) -> Artifact: ...

    async def exists(self, artifact: Artifact) -> bool: ...
