"""Object-store credentials for data links, kept outside the events.

A data link (and a compute environment) names its credentials by id (Seqera's ``credentialsId``); the secrets
themselves live in one operator-managed JSON file (``STUDIOS_CREDENTIALS_FILE``, default
``<data dir>/credentials.json``) that the gateway (browsing) and lifecycle (copying into sessions) both read, as
they read the session key. Events only ever carry the id: they are kept forever and sent to every subscriber.

The file maps ids to entries::

    {"lab-minio": {"accessKey": "...", "secretKey": "...", "sessionToken": null,
                   "endpoint": "http://minio:9000", "region": "us-east-1", "workspaces": [10, 12]}}

``workspaces`` limits which workspaces' links may use the entry (absent: every workspace); an entry without keys
is anonymous access to its endpoint (public buckets on a private S3-compatible server). The file is re-read when
it changes, so adding credentials needs no restart.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libs.contracts.errors import InvalidInput, NotFound, Unavailable

log = logging.getLogger("studios.datalinks.credentials")


class CredentialsNotFound(NotFound):
    code = "credentials_not_found"


@dataclass(frozen=True)
class Credentials:
    id: str
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    region: str | None = None
    workspaces: frozenset[int] | None = None  # None: usable by every workspace

    @property
    def anonymous(self) -> bool:
        return not self.access_key

    def allows(self, workspace_id: int) -> bool:
        return self.workspaces is None or workspace_id in self.workspaces


def parse_entry(cid: str, raw: Any) -> Credentials:
    """One entry of the file; a malformed one is an InvalidInput naming it (never its secret)."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"credentials {cid!r}: an entry must be an object")
    known = {"provider", "accessKey", "secretKey", "sessionToken", "endpoint", "region", "workspaces"}
    if unknown := set(raw) - known:
        raise InvalidInput(f"credentials {cid!r}: unknown fields {sorted(unknown)}")
    if raw.get("provider", "aws") not in ("aws", "s3"):
        raise InvalidInput(f"credentials {cid!r}: only aws/s3 credentials are supported")
    if bool(raw.get("accessKey")) != bool(raw.get("secretKey")):
        raise InvalidInput(f"credentials {cid!r}: accessKey and secretKey go together")
    spaces = raw.get("workspaces")
    if spaces is not None and not (isinstance(spaces, list) and all(isinstance(w, int) for w in spaces)):
        raise InvalidInput(f"credentials {cid!r}: workspaces must be a list of workspace ids")
    return Credentials(cid, raw.get("accessKey") or None, raw.get("secretKey") or None,
                       raw.get("sessionToken") or None, raw.get("endpoint") or None, raw.get("region") or None,
                       frozenset(spaces) if spaces is not None else None)


def parse(text: str) -> dict[str, Credentials]:
    data = json.loads(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise InvalidInput("the credentials file must hold an object of id -> entry")
    return {str(cid): parse_entry(str(cid), raw) for cid, raw in data.items()}


class CredentialStore:
    """The entries of the credentials file, re-read when its modification time or size changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._entries: dict[str, Credentials] = {}

    @classmethod
    def of(cls, entries: dict[str, Credentials]) -> CredentialStore:
        store = cls(None)
        store._entries = dict(entries)
        return store

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._entries = None, {}
            return
        if self._seen == (st.st_mtime, st.st_size):
            return
        if st.st_mode & 0o004:
            log.warning("%s is readable by every user of this host: it holds secrets", self.path)
        try:
            self._entries = parse(self.path.read_text())
        except (ValueError, InvalidInput) as e:  # a JSON mistake, or an entry's (named, without its secret)
            why = e.detail if isinstance(e, InvalidInput) else f"not JSON ({e})"
            log.error("credentials file %s: %s", self.path, why)
            raise Unavailable(f"the operator's credentials file cannot be read: {why}") from None
        self._seen = (st.st_mtime, st.st_size)

    def get(self, credentials_id: str, workspace_id: int) -> Credentials:
        """The entry for a link of ``workspace_id``; not found (the same answer) when it exists for others only,
        so no workspace learns which credentials another one has."""
        self._refresh()
        entry = self._entries.get(credentials_id)
        if entry is None or not entry.allows(workspace_id):
            raise CredentialsNotFound(f"credentials {credentials_id!r} not found for workspace {workspace_id} "
                                      "(the operator's credentials file names none such)")
        return entry
