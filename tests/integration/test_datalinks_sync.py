"""The init container's entry point (``python -m services.lifecycle.datalinks.sync``) run as a process against a
real S3-compatible server (moto, checking every request's signature): the copy lands read-only in the volume with
its manifest beside it, a second run fetches only what changed, keys come only from the environment, and a wrong
secret or a link over the limit exits 2 with the reason on stderr."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from libs.testing.s3 import iam_keys, moto_server, require_auth
from services.lifecycle.datalinks.sync import ENV, copy_path

BUCKET = "pod-data"


@dataclass
class Server:
    endpoint: str
    keys: tuple[str, str]
    client: Any


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with moto_server() as endpoint:
        keys = iam_keys(endpoint, "pod")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=keys[0],
                              aws_secret_access_key=keys[1])
        client.create_bucket(Bucket=BUCKET)
        for key, body in {"ref/a.txt": "a\n", "ref/sub/b.txt": "b\n"}.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        require_auth(endpoint)
        yield Server(endpoint, keys, client)


def _sync(server: Server, root: Path, *extra: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    # only the process's own environment: no AWS_* variable of the test run may sign its requests
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), ENV["access_key"]: server.keys[0],
           ENV["secret_key"]: secret or server.keys[1], ENV["endpoint"]: server.endpoint}
    return subprocess.run([sys.executable, "-m", "services.lifecycle.datalinks.sync", "--ref", f"s3://{BUCKET}/ref",
                           "--root", str(root), "--link", "L1", "--name", "lab", *extra],
                          capture_output=True, text=True, env=env, timeout=120, cwd=Path(__file__).parents[2])


def test_the_link_is_copied_read_only_and_a_second_run_fetches_only_what_changed(
        server: Server, tmp_path: Path) -> None:
    first = _sync(server, tmp_path)
    assert first.returncode == 0, first.stderr
    copy = tmp_path / copy_path("L1")
    assert (copy / "a.txt").read_text() == "a\n" and (copy / "sub" / "b.txt").read_text() == "b\n"
    assert stat.S_IMODE((copy / "a.txt").stat().st_mode) == 0o444
    assert sorted(p.name for p in copy.iterdir()) == ["a.txt", "sub"]  # the manifest is beside, not inside
    assert "data link lab: 2 file(s) fetched" in first.stdout
    server.client.put_object(Bucket=BUCKET, Key="ref/a.txt", Body=b"a, changed\n")
    second = _sync(server, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "data link lab: 1 file(s) fetched" in second.stdout and "1 unchanged" in second.stdout
    assert (copy / "a.txt").read_text() == "a, changed\n"


def test_a_refused_secret_exits_2_naming_the_link(server: Server, tmp_path: Path) -> None:
    done = _sync(server, tmp_path, secret="not-the-secret")
    assert done.returncode == 2
    assert "data link lab" in done.stderr
    assert not (tmp_path / copy_path("L1")).exists()


def test_a_link_over_the_limit_exits_2_before_fetching(server: Server, tmp_path: Path) -> None:
    done = _sync(server, tmp_path, "--limit-mb", "0")
    assert done.returncode == 2
    assert "STUDIOS_DATALINK_COPY_MAX_MB" in done.stderr and "nothing was copied" in done.stderr
    assert not (tmp_path / copy_path("L1")).exists()
