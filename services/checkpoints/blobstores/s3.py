"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto...), under an optional key prefix.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an
instance role), never from the store's URL, which may be logged. An S3 PUT is atomic: an object is visible
whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from services.checkpoints.blobstores.base import BlobInfo, BlobNotFound


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None, region: str | None = None,
                 url: str | None = None) -> None:
        self.bucket, self.prefix = bucket, f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.url = url or f"s3://{bucket}/{prefix}"
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32))

    def _key(self, key: str) -> str:
        return self.prefix + key

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())
        except self._client.exceptions.NoSuchKey:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def flush(self) -> None:
        pass  # an acknowledged PUT is durable

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                       Prefix=self._key(prefix))
        for page in pages:
            for obj in page.get("Contents", []):
                yield BlobInfo(obj["Key"][len(self.prefix):], int(obj["Size"]), obj["LastModified"].timestamp())

    def create_bucket(self) -> None:
        """For tests and first runs against an empty server; production buckets are made by their operators."""
        try:
            self._client.create_bucket(Bucket=self.bucket)
        except self._client.exceptions.BucketAlreadyOwnedByYou:
            pass
