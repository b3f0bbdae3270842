"""Listing what a data link holds. ``file://`` links list a folder of the gateway's host, never above the link's
root; object stores need network calls and credentials the gateway does not hold yet, so they answer 501."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from libs.contracts.errors import InvalidInput, NotFound, StudiosError


class NotImplementedByGateway(StudiosError):
    code, status, title = "not_implemented", 501, "Not implemented"


def local_root(resource_ref: str) -> Path:
    return Path(unquote(urlsplit(resource_ref).path))


def _inside(root: Path, sub: str) -> Path:
    if "\x00" in sub:
        raise InvalidInput("Invalid path")
    target = (root / sub.lstrip("/")).resolve()
    if not target.is_relative_to(root.resolve()):
        raise InvalidInput("The path leaves the data link")
    return target


def _item(entry: os.DirEntry[str]) -> dict[str, Any]:
    if entry.is_dir():
        return {"type": "FOLDER", "name": entry.name, "size": 0, "mimeType": None}
    size = entry.stat().st_size if entry.is_file() else 0
    return {"type": "FILE", "name": entry.name, "size": size, "mimeType": mimetypes.guess_type(entry.name)[0]}


def browse(resource_ref: str, provider: str, path: str = "", search: str | None = None,
           page_size: int | None = None) -> dict[str, Any]:
    """Seqera's ``DataLinkContentResponse`` for ``path`` under the link."""
    if provider != "local":
        raise NotImplementedByGateway(
            f"Browsing {provider} data links is not supported by this gateway (no object-store access); "
            "mount the link in a studio instead")
    target = _inside(local_root(resource_ref), path)
    if not target.is_dir():
        raise NotFound(f"Folder '{path or '/'}' not found in this data link")
    with os.scandir(target) as it:
        entries = sorted((e for e in it if not search or e.name.startswith(search)), key=lambda e: e.name)
    if page_size is not None and page_size > 0:
        entries = entries[:page_size]
    return {"originalPath": path, "objects": [_item(e) for e in entries], "nextPageToken": None}
