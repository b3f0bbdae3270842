"""A Docker-API engine for tests: ``DOCKER_HOST`` when one answers there, else a private Podman service started here.

The Podman service gets its own storage, run directory and ``containers.conf`` (runc, cgroupfs and ulimits within
this machine's hard limits: crun and the systemd cgroup manager fail on these hosts), so it touches nothing of a
Podman the machine may already use. No registry is reachable in CI, so the test image is imported from a rootfs
tarball holding a static busybox (Debian's ``busybox-static``): ``sh`` for custom commands and ``busybox httpd`` as
a tool that serves on ``$CONNECT_TOOL_PORT``. Without an engine (or busybox), the tests that need one skip and say why.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

TEST_IMAGE = "studios-test-busybox"
#: what the image runs when the tool is not ``custom``: a static http server on the tool port
TOOL_CMD = '["/bin/sh","-c","echo busybox httpd listening; exec busybox httpd -f -v -p $CONNECT_TOOL_PORT -h /www"]'
_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
_APPLETS = ("sh", "echo", "sleep", "cat", "ls", "true")


@dataclass(frozen=True)
class Engine:
    url: str  # what DockerBackend / aiodocker take: unix:///path or tcp://host:port
    image: str


def _client(url: str) -> httpx.Client:
    if url.startswith("unix://"):
        return httpx.Client(transport=httpx.HTTPTransport(uds=url.removeprefix("unix://")), base_url="http://engine",
                            trust_env=False, timeout=30)
    return httpx.Client(base_url=url.replace("tcp://", "http://"), trust_env=False, timeout=30)


def answers(url: str) -> bool:
    try:
        with _client(url) as client:
            return client.get("/_ping").status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def _start_podman(directory: Path) -> subprocess.Popen[bytes]:
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("no Docker-API engine: DOCKER_HOST is unset or does not answer, and podman is not installed "
                    "(apt-get install podman runc)")
    (directory / "containers.conf").write_text(_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(directory / "containers.conf")}
    log = (directory / "podman.log").open("wb")
    return subprocess.Popen(  # --time=0: it serves until we end it, not until it has been idle a while
        # vfs: plain directories, no overlay mount that would outlive the service (and the test's tmp folder)
        [podman, "--root", str(directory / "root"), "--runroot", str(directory / "run"), "--storage-driver", "vfs",
         "system", "service",
         "--time=0", f"unix://{directory / 'podman.sock'}"], env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, preexec_fn=_end_with_parent)


def _end_with_parent() -> None:
    """In the child: SIGTERM it when the test process dies, even by SIGKILL, so no service outlives the tests."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG (Linux)


def _wait_for(url: str, process: subprocess.Popen[bytes], directory: Path, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = (directory / "podman.log").read_text(errors="replace")[-800:]
            pytest.skip(f"the private podman service did not answer on {url}: {tail}")
        time.sleep(0.1)


def _rootfs_tarball() -> bytes:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("no busybox to build the test image from (apt-get install busybox-static)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for name in ("www", "tmp", "workspace"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777
            tar.addfile(info)
        for applet in _APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buffer.getvalue()


def import_test_image(url: str, name: str = TEST_IMAGE, user: str | None = None) -> str:
    """Import the busybox rootfs as ``name`` (once per engine), its ``USER`` set when ``user`` is given (an image
    that says who it runs as); returns the image's name."""
    with _client(url) as client:
        if client.get(f"/images/{name}/json").status_code == 200:
            return name
        changes = f"&changes={quote(f'CMD {TOOL_CMD}')}" + (f"&changes={quote(f'USER {user}')}" if user else "")
        reply = client.post(f"/images/create?fromSrc=-&repo={name}{changes}",
                            content=_rootfs_tarball(), headers={"Content-Type": "application/x-tar"})
        if reply.status_code != 200 or "error" in reply.text.lower():
            pytest.skip(f"the engine at {url} would not import the test image: {reply.text[-400:]}")
    return name


def _remove_all(url: str) -> None:
    try:
        with _client(url) as client:
            for container in client.get("/containers/json?all=true").json():
                client.delete(f"/containers/{container['Id']}?force=true&v=true")
    except (httpx.HTTPError, OSError):
        pass


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    host = os.environ.get("DOCKER_HOST")
    if host and answers(host):
        yield Engine(host, import_test_image(host))
        return
    directory = Path(tmp_path_factory.mktemp("podman"))
    url = f"unix://{directory / 'podman.sock'}"
    process = _start_podman(directory)
    try:
        _wait_for(url, process, directory)
        yield Engine(url, import_test_image(url))
    finally:
        _remove_all(url)  # containers outlive the service (each has its own conmon): none may outlive the tests
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
