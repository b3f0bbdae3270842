"""Listing what a data link holds. ``file://`` links list a folder of the gateway's host, never above the link's
root; ``s3://`` links are listed through the S3 API (``s3browse``); other object stores answer 501."""

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
           page_size: int | None = None, next_page_token: str | None = None) -> dict[str, Any]:
    """Seqera's ``DataLinkContentResponse`` for ``path`` under the link; a page's token is the last name it
    holds (the folder is listed in name order). ``s3://`` links are browsed by ``s3browse``."""
    if provider != "local":
        raise NotImplementedByGateway(
            f"Browsing {provider} data links is not supported by this gateway (no object-store access); "
            "mount the link in a studio instead")
    target = _inside(local_root(resource_ref), path)
    if not target.is_dir():
        raise NotFound(f"Folder '{path or '/'}' not found in this data link")
    with os.scandir(target) as it:
        entries = sorted((e for e in it if (not search or e.name.startswith(search))
                          and (not next_page_token or e.name > next_page_token)), key=lambda e: e.name)
    token = None
    if page_size is not None and page_size > 0 and len(entries) > page_size:
        entries, token = entries[:page_size], entries[page_size - 1].name
    return {"originalPath": path, "objects": [_item(e) for e in entries], "nextPageToken": token}
