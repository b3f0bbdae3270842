"""Browsing an ``s3://`` data link through the S3 API: Seqera's ``DataLinkContentResponse``, one page at a time.

``nextPageToken`` is the store's own continuation token, passed back as it came; ``search`` is a prefix of the
names in the folder (S3's ``Prefix``); a page holds at most ``pageSize`` entries (folders and files together, as
S3 counts them), 1000 at most and by default. boto3 blocks, so each page is listed in a thread.
"""

from __future__ import annotations

import asyncio
import mimetypes
from typing import Any

from libs.contracts.errors import InvalidInput, NotFound, StudiosError
from libs.datalinks import s3
from libs.datalinks.credentials import CredentialStore

MAX_PAGE = 1000  # S3's own cap on one listing


def _page(access: s3.LinkAccess, name: str, path: str, search: str | None, size: int,
          token: str | None) -> s3.Page:
    try:
        return s3.list_folder(s3.client(access), access.location, path, search, size, token)
    except StudiosError:
        raise
    except Exception as e:  # every boto3 failure becomes the link's typed error
        raise s3.explain(e, access, name) from e


async def browse_s3(link: dict[str, Any], credentials: CredentialStore, path: str = "", search: str | None = None,
                    page_size: int | None = None, next_page_token: str | None = None,
                    credentials_id: str | None = None) -> dict[str, Any]:
    """``link`` is the data link's read row; ``credentials_id`` (Seqera's query parameter) overrides its own."""
    if page_size is not None and page_size <= 0:
        raise InvalidInput("pageSize must be positive")
    size = min(page_size or MAX_PAGE, MAX_PAGE)
    access = s3.access_for(link["resourceRef"], int(link["workspaceId"]), bool(link.get("publicAccessible")),
                           credentials_id or link.get("credentialsId"), credentials, str(link["name"]))
    page = await asyncio.to_thread(_page, access, str(link["name"]), path, search, size, next_page_token)
    if path.strip("/") and not next_page_token and not search and not (page.folders or page.files):
        raise NotFound(f"Folder '{path}' not found in this data link")  # S3 folders exist only through keys
    objects = [{"type": "FOLDER", "name": f, "size": 0, "mimeType": None} for f in page.folders]
    objects += [{"type": "FILE", "name": n, "size": sz, "mimeType": mimetypes.guess_type(n)[0]}
                for n, sz in page.files]
    objects.sort(key=lambda o: str(o["name"]))
    return {"originalPath": path, "objects": objects, "nextPageToken": page.next_token}
