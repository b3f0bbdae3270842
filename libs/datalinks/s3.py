"""``s3://bucket/prefix`` data links through the S3 API, with boto3 (the client the checkpoints store uses).

Which credentials a link is read with (docs/data-links.md): the entry its ``credentialsId`` names (else the one
its compute environment names, for a session), from the operator's credentials file; a public link without one
is read anonymously. A private link without credentials is refused rather than read with whatever the service's
own environment holds: those credentials (an instance role, the checkpoint store's keys) are the operator's, not
the workspace's, and would let any user who can create a link read any bucket they reach.

Every call here is blocking (boto3); async callers run them in a thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import botocore.exceptions
from botocore import UNSIGNED
from botocore.config import Config

from libs.contracts.errors import Forbidden, InvalidInput, NotFound, StudiosError
from libs.datalinks.credentials import Credentials, CredentialStore

#: the S3 error codes that mean "these credentials may not read this", not "it is not there"
REFUSALS = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
            "AllAccessDisabled", "AccountProblem", "403"}


class StorageRefused(Forbidden):
    """The object store refused the link's credentials (a 403, but not the caller's permission on Studios)."""

    code = "storage_refused"


class StorageUnreachable(StudiosError):
    code, status, title = "storage_unreachable", 502, "Bad gateway"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" for the whole bucket, else ending in "/"

    @classmethod
    def parse(cls, resource_ref: str) -> S3Location:
        parts = urlsplit(resource_ref)
        if parts.scheme != "s3" or not parts.netloc:
            raise InvalidInput(f"{resource_ref!r} is not an s3://bucket/prefix reference")
        prefix = unquote(parts.path).strip("/")
        return cls(parts.netloc, f"{prefix}/" if prefix else "")

    def key(self, path: str) -> str:
        """The key prefix of ``path`` (a folder relative to the link), never above the link's root."""
        inner = [p for p in path.strip("/").split("/") if p]
        if any(p in (".", "..") or "\x00" in p for p in inner):
            raise InvalidInput("The path leaves the data link")
        return self.prefix + "".join(f"{p}/" for p in inner)


@dataclass(frozen=True)
class LinkAccess:
    """What reading one link takes: where, and with which credentials (None: anonymously)."""

    location: S3Location
    credentials: Credentials | None
    credentials_id: str | None

    @property
    def endpoint(self) -> str | None:
        return self.credentials.endpoint if self.credentials else None

    def describe(self) -> str:
        return f"s3://{self.location.bucket}/{self.location.prefix}" + (
            f" at {self.endpoint}" if self.endpoint else "")


def access_for(resource_ref: str, workspace_id: int, public: bool, credentials_id: str | None,
               store: CredentialStore, name: str) -> LinkAccess:
    location = S3Location.parse(resource_ref)
    if credentials_id:
        return LinkAccess(location, store.get(credentials_id, workspace_id), credentials_id)
    if public:
        return LinkAccess(location, None, None)
    raise StorageRefused(f"data link {name} ({resource_ref}) is private and names no credentials: give it a "
                         "credentialsId from the operator's credentials file, or mark it publicAccessible")


def client(access: LinkAccess) -> Any:
    creds = access.credentials
    options: dict[str, Any] = {"retries": {"max_attempts": 3, "mode": "standard"}, "max_pool_connections": 16,
                               "connect_timeout": 10, "read_timeout": 60}
    if creds is None or creds.anonymous:
        options["signature_version"] = UNSIGNED
    keys = {} if creds is None or creds.anonymous else {
        "aws_access_key_id": creds.access_key, "aws_secret_access_key": creds.secret_key,
        "aws_session_token": creds.session_token}
    # Explicit keys or none (unsigned): the service's ambient AWS environment never signs a link's requests.
    session = boto3.session.Session(**keys, region_name=(creds.region if creds else None) or "us-east-1")
    return session.client("s3", endpoint_url=access.endpoint, config=Config(**options))


def explain(e: Exception, access: LinkAccess, name: str) -> StudiosError:
    """A boto3 failure as the typed error the API and the start's message show, naming the link."""
    where = f"data link {name} ({access.describe()})"
    if isinstance(e, botocore.exceptions.ClientError):
        err = e.response.get("Error", {})
        code, message = str(err.get("Code", "")), str(err.get("Message", "")).strip()
        detail = f"{code}{': ' + message if message else ''}"
        if code in ("NoSuchBucket", "404", "NotFound"):
            return NotFound(f"{where}: the bucket {access.location.bucket} does not exist ({detail})")
        if code in REFUSALS:
            who = f"credentials {access.credentials_id!r}" if access.credentials_id else "anonymous access"
            return StorageRefused(f"{where}: the object store refused {who} ({detail})")
        return StorageUnreachable(f"{where}: the object store answered {detail}")
    if isinstance(e, botocore.exceptions.BotoCoreError):
        return StorageUnreachable(f"{where}: the object store could not be reached ({e})")
    return StorageUnreachable(f"{where}: {type(e).__name__}: {e}")


@dataclass(frozen=True)
class Page:
    folders: list[str]  # names, without the trailing "/"
    files: list[tuple[str, int]]  # (name, size)
    next_token: str | None


def list_folder(s3: Any, location: S3Location, path: str, search: str | None, page_size: int,
                token: str | None) -> Page:
    """One page of a folder: its sub-folders and files whose names start with ``search``."""
    folder = location.key(path)
    args: dict[str, Any] = {"Bucket": location.bucket, "Prefix": folder + (search or ""), "Delimiter": "/",
                            "MaxKeys": page_size}
    if token:
        args["ContinuationToken"] = token
    reply = s3.list_objects_v2(**args)
    folders = [p["Prefix"][len(folder):].rstrip("/") for p in reply.get("CommonPrefixes", [])]
    files = [(o["Key"][len(folder):], int(o["Size"])) for o in reply.get("Contents", [])
             if o["Key"] != folder]  # the folder's own marker object
    token = reply.get("NextContinuationToken") if reply.get("IsTruncated") else None
    return Page(folders, files, token)


@dataclass(frozen=True)
class Obj:
    key: str  # relative to the link's root
    size: int
    etag: str


def list_all(s3: Any, location: S3Location) -> Iterator[Obj]:
    """Every object under the link (folder markers excluded), in key order."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.prefix)
    for page in pages:
        for o in page.get("Contents", []):
            rel = o["Key"][len(location.prefix):]
            if rel and not rel.endswith("/"):
                yield Obj(rel, int(o["Size"]), str(o.get("ETag", "")).strip('"'))
