"""A real S3-compatible server for tests: moto in server mode, in its own process (the checkpoint store's and the
data links' tests). ``s3_endpoint`` is one server for the whole test session, with test credentials in the
environment and no authentication. A module that needs a wrong secret refused, as AWS does, starts its own
``moto_server()``, makes IAM users on it (``iam_keys``), then ``require_auth``: from then on moto checks every
request's signature against those users."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

# Test credentials for the unauthenticated server, set at import: worker processes (a forkserver started by any
# earlier test) take the environment of the moment they were started.
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_name, "testing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto server that lives as long as the block."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a bounded poll on the condition: the server answers
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the moto server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def iam_keys(endpoint: str, user: str) -> tuple[str, str]:
    """A new IAM user allowed everything on S3, and its access key (before ``require_auth``)."""
    import boto3

    iam: Any = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def require_auth(endpoint: str) -> None:
    """From now on every request must be signed by an IAM user's key (moto's reset-auth, no free requests)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})  # a form body would be parsed away
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One unauthenticated moto server for the test session (credentials from the environment)."""
    with moto_server() as url:
        yield url
