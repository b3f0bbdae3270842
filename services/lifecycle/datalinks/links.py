"""A session's data links: where each comes from on this host, and where the session sees it.

``file://`` links are folders of this host, shown as they are. ``s3://`` links are copied (``copies``) and the copy
is shown; they are read with the credentials the link names, else those its compute environment names
(``libs.datalinks``), never with lifecycle's own environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from libs.contracts.errors import StudiosError
from libs.datalinks import s3
from libs.datalinks.credentials import CredentialStore
from services.lifecycle.datalinks.copies import CopyError, Report, S3Copies, Synced

DEFAULT_COPY_LIMIT_MB = 5 * 1024  # the read-only copy of one s3:// link, per session (STUDIOS_DATALINK_COPY_MAX_MB)


@dataclass(frozen=True)
class Link:
    id: str
    name: str
    ref: str
    workspace_id: int
    credentials_id: str | None = None
    public: bool = False

    @classmethod
    def of(cls, link_id: str, data: dict[str, Any]) -> Link:
        """From a ``DataLinkCreated`` event's data."""
        return cls(link_id, str(data["name"]), str(data["resource_ref"]), int(data.get("workspace_id") or 0),
                   data.get("credentials_id") or None, bool(data.get("public_accessible")))

    @property
    def scheme(self) -> str:
        return urlsplit(self.ref).scheme


class DataLinks:
    def __init__(self, copies: S3Copies, credentials: CredentialStore) -> None:
        self.copies, self.credentials = copies, credentials

    def source(self, studio_id: str, link: Link) -> Path:
        """The folder of this host the session is shown (the link's own, or its copy); CopyError if none."""
        if link.scheme == "file":
            folder = Path(unquote(urlsplit(link.ref).path))
            if not folder.is_dir():
                raise CopyError(f"data link {link.name}: {folder} is not a folder on this host")
            return folder
        if link.scheme == "s3":
            return self.copies.folder(studio_id, link.id)
        raise CopyError(f"data link {link.name} ({link.ref}) cannot be shown in a session: this installation "
                        "reads file:// and s3:// links only")

    async def prepare(self, studio_id: str, link: Link, compute_env_credentials: str | None,
                      report: Report | None = None) -> Synced | None:
        """Bring an ``s3://`` link's copy up to date (and say what it took); nothing to do for other links."""
        if link.scheme != "s3":
            self.source(studio_id, link)
            return None
        return await self.copies.sync(studio_id, link.id, link.name, self.access(link, compute_env_credentials),
                                      report)

    def access(self, link: Link, compute_env_credentials: str | None) -> s3.LinkAccess:
        """How ``link`` is read (its own credentials, else the compute environment's); CopyError naming the link
        when they are missing or refused."""
        try:
            return s3.access_for(link.ref, link.workspace_id, link.public,
                                 link.credentials_id or compute_env_credentials, self.credentials, link.name)
        except StudiosError as e:
            named = e.detail.startswith(f"data link {link.name}")
            raise CopyError(e.detail if named else f"data link {link.name}: {e.detail}") from e
