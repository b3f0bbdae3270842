"""Small helpers for the e2e tests: poll a studio until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_studio(c: httpx.Client, session_id: str, until: Callable[[dict[str, Any]], bool],
                timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(f"/studios/{session_id}", params={"workspaceId": 1})
        r.raise_for_status()
        dto: dict[str, Any] = r.json()
        if until(dto):
            return dto
        if time.monotonic() > deadline:
            raise AssertionError(f"studio {session_id} stuck: {dto['statusInfo']}")
        time.sleep(0.1)


def status_is(*statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda dto: dto["statusInfo"]["status"] in statuses
