"""``python -m services.lifecycle.datalinks.sync``: one ``s3://`` link copied into a folder, then exit.

The init container of a kubernetes session runs this (in the studios image) to fill the pod's ``emptyDir`` before
the tool starts, so a link is present on any node, not only where lifecycle's own copy lies. It is the same copy as
lifecycle's (``copies.S3Copies``: limit, manifest, read-only files), written to ``<root>/copies/<link id>``; the
tool container mounts that sub-folder read-only, and the manifest beside it stays out of the tool's sight.

Credentials come from the environment (``STUDIOS_LINK_ACCESS_KEY_ID``, ``STUDIOS_LINK_SECRET_ACCESS_KEY``,
``STUDIOS_LINK_SESSION_TOKEN``, ``STUDIOS_LINK_ENDPOINT``, ``STUDIOS_LINK_REGION``), which the pod fills from a
Secret by reference; no key is ever an argument (arguments are in the pod spec and in ``ps``). No access key:
an anonymous read (a public link). Exit 0 once the copy is complete, 2 with the reason on stderr otherwise (the
container's termination message, which the start's failure shows).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from libs.datalinks import s3
from libs.datalinks.credentials import Credentials
from services.lifecycle.datalinks.copies import CopyError, S3Copies
from services.lifecycle.datalinks.links import DEFAULT_COPY_LIMIT_MB, DataLinks, Link

ENV = {"access_key": "STUDIOS_LINK_ACCESS_KEY_ID", "secret_key": "STUDIOS_LINK_SECRET_ACCESS_KEY",
       "session_token": "STUDIOS_LINK_SESSION_TOKEN", "endpoint": "STUDIOS_LINK_ENDPOINT",
       "region": "STUDIOS_LINK_REGION"}
COPIES = "copies"  # the sub-folder of the root the copies are in (their manifests beside them)


@dataclass(frozen=True)
class PodLink:
    """An ``s3://`` link a pod syncs itself (the kubernetes backend): what the init container is told, and the
    credentials its Secret holds. In memory only (a ``LaunchSpec`` field kept out of its repr): never in an event."""

    link_id: str
    name: str
    ref: str
    target: str  # the host path under the workspace the session sees it at, as ``read_only_mounts`` names it
    access: s3.LinkAccess
    limit_mb: int = DEFAULT_COPY_LIMIT_MB


def pod_link(datalinks: DataLinks, link: Link, compute_env_credentials: str | None, target: str) -> PodLink:
    """What a pod needs to sync ``link`` itself; CopyError (naming the link) when it names no usable
    credentials, so the start fails before any pod is made, as a host copy's would."""
    access = datalinks.access(link, compute_env_credentials)
    return PodLink(link.id, link.name, link.ref, target, access, max(1, datalinks.copies.limit // 1024**2))


def copy_path(link_id: str) -> str:
    """Where in the synced volume a link's copy is: the tool's mount's ``subPath``."""
    return f"{COPIES}/{link_id}"


def access(ref: str, environ: Mapping[str, str]) -> s3.LinkAccess:
    values = {field: environ.get(name) or None for field, name in ENV.items()}
    if not any(values.values()):
        return s3.LinkAccess(s3.S3Location.parse(ref), None, None)
    credentials = Credentials("pod", access_key=values["access_key"], secret_key=values["secret_key"],
                              session_token=values["session_token"], endpoint=values["endpoint"],
                              region=values["region"])
    return s3.LinkAccess(s3.S3Location.parse(ref), credentials, "pod")


async def run(ref: str, root: Path, link_id: str, name: str, limit_mb: int, environ: Mapping[str, str]) -> int:
    copies = S3Copies(root / COPIES, limit_mb * 1024**2)

    async def report(line: str) -> None:
        print(line, flush=True)

    try:
        synced = await copies.sync("", link_id, name, access(ref, environ), report)
    except CopyError as error:
        print(str(error), file=sys.stderr, flush=True)
        return 2
    print(synced.line(), flush=True)
    if (warning := synced.warning()) is not None:
        print(warning, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.lifecycle.datalinks.sync", description=__doc__)
    parser.add_argument("--ref", required=True, help="s3://bucket/prefix")
    parser.add_argument("--root", required=True, type=Path, help="the volume the copy goes in")
    parser.add_argument("--link", required=True, help="the link's id (the copy's folder)")
    parser.add_argument("--name", help="the link's name, for messages (default: its id)")
    parser.add_argument("--limit-mb", type=int, default=DEFAULT_COPY_LIMIT_MB, help="refuse a link larger than this")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.ref, args.root, args.link, args.name or args.link, args.limit_mb, os.environ))


if __name__ == "__main__":
    sys.exit(main())
