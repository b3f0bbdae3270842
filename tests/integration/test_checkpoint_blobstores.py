"""The blob store port's contract, run over every adapter: memory (the fake), filesystem, and s3 against a real
S3-compatible server the tests start (moto in server mode)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.checkpoints.blobstores import BlobNotFound, BlobStore, open_blobstore
from tests.integration.checkpoint_helpers import s3_endpoint, s3_url

__all__ = ["s3_endpoint"]


@pytest.fixture(params=["memory", "filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield open_blobstore(f"memory://{uuid.uuid4().hex}")
    elif request.param == "filesystem":
        yield open_blobstore(str(tmp_path / "blobs"))
    else:
        yield open_blobstore(s3_url(request.getfixturevalue("s3_endpoint"), f"b{uuid.uuid4().hex[:12]}"))


def test_a_blob_put_is_got_back_whole(store: BlobStore) -> None:
    store.put("chunks/ab/abc", b"\x00payload\xff" * 1000)
    assert store.get("chunks/ab/abc") == b"\x00payload\xff" * 1000
    assert store.exists("chunks/ab/abc")


def test_a_missing_blob_is_not_found(store: BlobStore) -> None:
    assert not store.exists("chunks/no/none")
    with pytest.raises(BlobNotFound):
        store.get("chunks/no/none")


def test_a_put_replaces_and_a_delete_removes_even_twice(store: BlobStore) -> None:
    store.put("manifests/1/x", b"one")
    store.put("manifests/1/x", b"two")
    assert store.get("manifests/1/x") == b"two"
    store.delete("manifests/1/x")
    store.delete("manifests/1/x")
    assert not store.exists("manifests/1/x")


def test_list_gives_keys_sizes_and_times_under_a_prefix(store: BlobStore) -> None:
    store.put("chunks/aa/1", b"12345")
    store.put("chunks/bb/2", b"")
    store.put("manifests/9/m", b"m")
    chunks = {b.key: b for b in store.list("chunks/")}
    assert set(chunks) == {"chunks/aa/1", "chunks/bb/2"}
    assert chunks["chunks/aa/1"].size == 5 and chunks["chunks/aa/1"].modified > 0
    assert {b.key for b in store.list()} == {"chunks/aa/1", "chunks/bb/2", "manifests/9/m"}


def test_a_key_cannot_leave_the_filesystem_store(tmp_path: Path) -> None:
    store = open_blobstore(str(tmp_path / "blobs"))
    with pytest.raises(ValueError):
        store.put("../outside", b"x")


def test_flush_makes_puts_durable_and_keeps_them(store: BlobStore) -> None:
    store.put("chunks/cc/3", b"kept")
    store.flush()
    assert store.get("chunks/cc/3") == b"kept"
