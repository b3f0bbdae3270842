"""What every service that talks to Kubernetes shares: connecting, reading answers as JSON, names, refusals.

Lifecycle's backend (pods, services, claims) and the builder's Kaniko builds both use it; neither imports the other.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException


async def connect(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    """In the cluster (a service account's token) unless a kubeconfig is named; then that file and context."""
    configuration = client.Configuration()
    if kubeconfig is None:
        config.load_incluster_config(client_configuration=configuration)
    else:
        await config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                                      persist_config=False)
    return client.ApiClient(configuration)


def reason(error: ApiException) -> str:
    """The API's own message for a refused request (its Status body), else the HTTP reason."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(error.body or "").get("message") or error.reason)
    return f"{error.status} {error.reason}"


async def as_json(call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A call's answer as the API's own JSON: the client's model classes validate fields on the way in (and refuse
    what a newer server adds or an older one leaves out); the pure modules read the JSON shape anyway."""
    response = await call(*args, _preload_content=False, **kwargs)
    try:
        data = await response.read()
    finally:
        response.release()
    if not 200 <= response.status <= 299:
        raise refusal(response, data)
    found: dict[str, Any] = json.loads(data)
    return found


def refusal(response: Any, data: bytes) -> ApiException:
    """The error a raw (unpreloaded) answer outside 2xx stands for, with the API's Status body."""
    error = ApiException(status=response.status, reason=response.reason)
    error.body = data
    return error


def dns_name(text: str) -> str:
    """An RFC 1123 label (at most 63 characters) made from an id."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "x"
