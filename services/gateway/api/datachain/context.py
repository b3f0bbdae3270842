"""What the DataChain routes need from the composition root, put on ``app.state.datachain`` by ``install``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from nats.aio.client import Client as NATS

from libs.bus.streams import DEFAULT, Topology
from libs.contracts.errors import Unavailable
from services.gateway.commands import TracingSender


@dataclass
class DataChainContext:
    sender: TracingSender
    nc: NATS
    files_dir: Path  # uploads, by content hash
    public_url: str | None  # None: links are relative to the gateway
    topology: Topology = DEFAULT
    #: slots of a cluster whose config names no ``maxWorkers``: this host's cores
    default_max_workers: int = max(1, os.cpu_count() or 1)


def install(app: FastAPI, ctx: DataChainContext) -> None:
    ctx.files_dir.mkdir(parents=True, exist_ok=True)
    app.state.datachain = ctx


def context(request: Request) -> DataChainContext:
    ctx = getattr(request.app.state, "datachain", None)
    if ctx is None:
        raise Unavailable("The gateway is starting")
    assert isinstance(ctx, DataChainContext)
    return ctx
