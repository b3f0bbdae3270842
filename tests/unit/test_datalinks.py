"""Pure parts of s3:// data links: what a copy must fetch, keep and remove; the credentials file; which credentials
a link is read with; link paths that would leave the link."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.contracts.errors import InvalidInput, Unavailable
from libs.datalinks.credentials import Credentials, CredentialsNotFound, CredentialStore, parse
from libs.datalinks.s3 import Obj, S3Location, StorageRefused, access_for
from services.lifecycle.datalinks.plan import plan, safe


def test_an_unchanged_object_is_kept_a_changed_one_fetched_and_a_gone_one_removed() -> None:
    listing = [Obj("a.txt", 3, "e1"), Obj("dir/b.txt", 4, "e2"), Obj("c.txt", 5, "new")]
    manifest = {"a.txt": ("e1", 3), "dir/b.txt": ("old", 4), "gone.txt": ("e9", 1)}
    work = plan(listing, manifest, present={"a.txt", "dir/b.txt", "gone.txt"})
    assert [o.key for o in work.keep] == ["a.txt"]
    assert [o.key for o in work.fetch] == ["c.txt", "dir/b.txt"]
    assert work.remove == ("gone.txt",) and work.fetch_bytes == 9


def test_an_object_in_the_manifest_but_missing_on_disk_is_fetched_again() -> None:
    work = plan([Obj("a.txt", 3, "e1")], {"a.txt": ("e1", 3)}, present=set())
    assert [o.key for o in work.fetch] == ["a.txt"] and not work.keep


def test_keys_that_cannot_be_files_are_skipped_not_written() -> None:
    listing = [Obj("x", 1, "e"), Obj("x/y", 1, "e"), Obj("../escape", 1, "e"), Obj("a//b", 1, "e"),
               Obj("ok/z", 1, "e")]
    work = plan(listing, {}, present=set())
    assert [o.key for o in work.fetch] == ["ok/z", "x"]
    assert sorted(work.skipped) == ["../escape", "a//b", "x/y"]
    assert not safe("/abs") and not safe("a/./b") and safe("a/b.txt")


def test_the_credentials_file_is_parsed_and_its_mistakes_named_without_secrets() -> None:
    entries = parse('{"lab": {"accessKey": "AK", "secretKey": "SK", "endpoint": "http://s3", "workspaces": [1]},'
                    ' "anon": {"endpoint": "http://s3"}}')
    assert entries["lab"].access_key == "AK" and entries["lab"].workspaces == frozenset({1})
    assert "SK" not in repr(entries["lab"])  # a logged entry shows no secret
    assert entries["anon"].anonymous and entries["anon"].allows(42)
    for bad in ('{"x": {"accessKey": "AK"}}', '{"x": {"secretKey": "hunter2", "bogus": 1}}',
                '{"x": {"provider": "google"}}', '{"x": {"workspaces": "all"}}', "[1]"):
        with pytest.raises(InvalidInput) as e:
            parse(bad)
        assert "hunter2" not in e.value.detail


def test_a_link_is_read_with_its_credentials_anonymously_when_public_and_never_with_ambient_ones() -> None:
    store = CredentialStore.of({"lab": Credentials("lab", "AK", "SK", workspaces=frozenset({1}))})
    assert access_for("s3://b/p", 1, False, "lab", store, "ref").credentials == store.get("lab", 1)
    assert access_for("s3://b/p", 1, True, None, store, "ref").credentials is None
    with pytest.raises(StorageRefused, match="names no credentials"):
        access_for("s3://b/p", 1, False, None, store, "ref")
    with pytest.raises(CredentialsNotFound):  # another workspace's entry is not found, not forbidden
        access_for("s3://b/p", 2, False, "lab", store, "ref")


def test_a_browsed_path_stays_inside_the_link() -> None:
    loc = S3Location.parse("s3://bucket/data/set/")
    assert (loc.bucket, loc.prefix) == ("bucket", "data/set/")
    assert loc.key("") == "data/set/" and loc.key("/sub/x/") == "data/set/sub/x/"
    assert S3Location.parse("s3://bucket").prefix == ""
    with pytest.raises(InvalidInput):
        loc.key("../other")


def test_a_broken_credentials_file_is_a_clear_unavailable_and_a_fixed_one_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text('{"lab": {"accessKey": "AK", "secretKey": "SK"')
    store = CredentialStore(path)
    with pytest.raises(Unavailable, match="not JSON"):
        store.get("lab", 1)
    path.write_text('{"lab": {"accessKey": "AK", "secretKey": "SK"}}')
    assert store.get("lab", 1).access_key == "AK"
    path.unlink()
    with pytest.raises(CredentialsNotFound):
        store.get("lab", 1)
