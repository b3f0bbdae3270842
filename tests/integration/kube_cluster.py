"""A Kubernetes cluster for tests: the one ``KUBECONFIG`` names, when it answers; else the test skips, saying why.

No cluster can run on the development machines here, so these tests run where someone points them at one (kind or
k3d on a laptop: deploy/README.md). ``STUDIOS_TEST_KUBE_NAMESPACE`` (default ``default``) is where the test pods
go; ``STUDIOS_TEST_KUBE_IMAGE`` is an image that serves HTTP on port 8080 by itself and has ``sh`` (default
nginx-unprivileged), loaded into the cluster beforehand so a start does not wait for a pull.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEFAULT_IMAGE = "nginxinc/nginx-unprivileged:1.27-alpine"


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    namespace: str
    image: str


async def _answers(kubeconfig: str) -> str | None:
    """None when the cluster answers ``/version``; else why not."""
    from kubernetes_asyncio import client

    from libs.kube import connect

    try:
        api = await connect(kubeconfig, None)
    except Exception as error:  # a kubeconfig that cannot be loaded: say why and skip
        return f"KUBECONFIG={kubeconfig} cannot be loaded: {error}"
    try:
        async with asyncio.timeout(10):
            response: Any = await client.VersionApi(api).get_code(_preload_content=False)  # the raw answer
            response.release()
            if response.status != 200:
                return f"the cluster KUBECONFIG={kubeconfig} names answers /version with {response.status}"
    except Exception as error:
        first = (str(error).splitlines() or [""])[0]  # an ApiException's text goes on with headers and body
        return f"the cluster KUBECONFIG={kubeconfig} names does not answer: {type(error).__name__}: {first}"
    finally:
        await api.close()
    return None


@pytest.fixture
def kube_cluster() -> Cluster:
    """Sync (its own loop, in a thread), so an async fixture can ask for it with ``request.getfixturevalue``."""
    kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if not kubeconfig or not Path(kubeconfig).is_file():
        pytest.skip("no Kubernetes cluster: KUBECONFIG does not name a kubeconfig file (deploy/README.md: kind, k3d)")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        why = pool.submit(asyncio.run, _answers(kubeconfig)).result()
    if why is not None:
        pytest.skip(why)
    return Cluster(kubeconfig, os.environ.get("STUDIOS_TEST_KUBE_NAMESPACE", "default"),
                   os.environ.get("STUDIOS_TEST_KUBE_IMAGE", DEFAULT_IMAGE))
